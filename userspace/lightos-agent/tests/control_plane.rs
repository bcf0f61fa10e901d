//! The control plane (`lightos.agent.v1.Agent`) and grpc.health.v1 of a running `lightos-agent`,
//! through tonic clients: health, devices, model jobs, authentication, power limits and the
//! telemetry stream. The agent is pointed at a device node that does not exist, so it runs its
//! model in process and says so; the guest runs the Python clients against the module.

use lightos_agent::control::proto::{
    agent_client::AgentClient, HealthCheckRequest, ListDevicesRequest, SetPowerLimitRequest,
    StreamTelemetryRequest, SubmitJobRequest, Tensor,
};
#[path = "../../lightos-graph/tests/common/mod.rs"]
mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Duration,
};
use tonic::{transport::Channel, Code, Request};

const TOKEN: &str = "control-token";
const W: [f32; 12] = [1., 0., 2., 0., 1., 0., -1., 0., 1., 0.5, 0.5, 0.5];

/// `y[N,3] = x[N,4] · W[4,3]`, saved in the native format as model `mm` version 1.
fn repository(root: &Path) {
    let dir = root.join("models/mm/1");
    std::fs::create_dir_all(&dir).unwrap();
    let g = common::symbolic_matmul(&W, 4, 3);
    lightos_graph::native::save(&g, &dir.join("model.lgraph")).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Agent {
    child: Child,
    grpc: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(tag: &str) -> Agent {
    let root: PathBuf =
        std::env::temp_dir().join(format!("lightos-agent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    repository(&root);
    let grpc = format!("127.0.0.1:{}", free_port());
    let config = root.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhttp = \"127.0.0.1:{}\"\ngrpc = \"{grpc}\"\nnode = \"/nonexistent/lightos\"\n\
             [models]\nrepository = \"{}\"\n[auth]\ntoken = \"{TOKEN}\"\n",
            free_port(),
            root.join("models").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lightos-agent"))
        .arg("--config")
        .arg(&config)
        .stderr(std::fs::File::create(root.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    Agent { child, grpc }
}

/// A client once the agent serves (grpc.health.v1 says SERVING).
async fn connect(a: &Agent) -> (AgentClient<Channel>, Channel) {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    for _ in 0..300 {
        if let Ok(ch) = Channel::from_shared(format!("http://{}", a.grpc))
            .unwrap()
            .connect()
            .await
        {
            let status = HealthClient::new(ch.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if status.ok() == Some(ServingStatus::Serving as i32) {
                return (AgentClient::new(ch.clone()), ch);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the agent did not start serving");
}

fn authed<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    r
}

fn job() -> SubmitJobRequest {
    let x: [f32; 8] = [1., 2., 3., 4., 0., 0., 0., 1.];
    SubmitJobRequest {
        model: "mm".into(),
        inputs: vec![Tensor {
            name: "x".into(),
            datatype: "FP32".into(),
            shape: vec![2, 4],
            data: x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn health_devices_and_jobs() {
    let a = start("jobs");
    let (mut c, _) = connect(&a).await;
    let h = c
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(h.live && h.ready);
    assert_eq!(h.models.len(), 1);
    assert_eq!(
        (h.models[0].name.as_str(), h.models[0].version.as_str()),
        ("mm", "1")
    );
    assert!(
        h.kernel.contains("/nonexistent/lightos") && h.kernel.contains("in the agent's process"),
        "{}",
        h.kernel
    );

    let d = c
        .list_devices(ListDevicesRequest {})
        .await
        .unwrap()
        .into_inner()
        .devices;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].name.as_str(), d[0].kind.as_str()),
        ("local", "in-process")
    );
    assert!(d[0].ops.iter().any(|o| o == "matmul"), "{:?}", d[0].ops);

    let e = c.submit_job(job()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e}");
    let r = c.submit_job(authed(job())).await.unwrap().into_inner();
    assert_eq!(r.outputs[0].shape, [2, 3]);
    let y: Vec<f32> = r.outputs[0]
        .data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // [1,2,3,4]·W and [0,0,0,1]·W, W row-major [4,3].
    assert_eq!(y, [0.0, 4.0, 7.0, 0.5, 0.5, 0.5]);
    let mut bad = job();
    bad.inputs[0].shape = vec![2, 5];
    let e = c.submit_job(authed(bad)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    let mut unknown = job();
    unknown.model = "nosuch".into();
    assert_eq!(
        c.submit_job(authed(unknown)).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn a_primitive_is_a_job_too() {
    let a = start("primitive");
    let (mut c, _) = connect(&a).await;
    let tensor = |name: &str, shape: Vec<i64>, v: &[f32]| Tensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape,
        data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    };
    let softmax = || SubmitJobRequest {
        primitive: "Softmax".into(),
        attributes: [("axis".to_string(), 0)].into(),
        inputs: vec![tensor("x", vec![2, 1], &[0.0, 0.0])],
        ..Default::default()
    };
    let e = c.submit_job(softmax()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e}");
    let r = c.submit_job(authed(softmax())).await.unwrap().into_inner();
    assert_eq!(
        (r.outputs[0].name.as_str(), &r.outputs[0].shape[..]),
        ("y", &[2, 1][..])
    );
    assert_eq!(
        r.outputs[0].data,
        [0.5f32, 0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>()
    );
    let mm = SubmitJobRequest {
        primitive: "MatMul".into(),
        inputs: vec![
            tensor("a", vec![1, 2], &[1.0, 2.0]),
            tensor("b", vec![2, 1], &[3.0, 4.0]),
        ],
        ..Default::default()
    };
    let r = c.submit_job(authed(mm.clone())).await.unwrap().into_inner();
    assert_eq!(r.outputs[0].data, 11f32.to_le_bytes());
    // A model and a primitive at once, an op the engine does not know, shapes that do not fit.
    let both = SubmitJobRequest {
        model: "mm".into(),
        ..mm.clone()
    };
    let unknown = SubmitJobRequest {
        primitive: "Frobnicate".into(),
        ..mm.clone()
    };
    let mut misfit = mm;
    misfit.inputs[1].shape = vec![1, 2];
    for (bad, words) in [
        (both, "not both"),
        (unknown, "Frobnicate"),
        (misfit, "MatMul"),
    ] {
        let e = c.submit_job(authed(bad)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.message().contains(words), "{e}");
    }
}

#[tokio::test]
async fn power_limits_need_the_token_and_the_kernel() {
    let a = start("power");
    let (mut c, _) = connect(&a).await;
    let req = || SetPowerLimitRequest {
        device: "photonic0".into(),
        laser_cap_mw: Some(20),
        tec_floor_permille: None,
    };
    assert_eq!(
        c.set_power_limit(req()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut wrong = Request::new(req());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        c.set_power_limit(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let empty = SetPowerLimitRequest {
        device: "photonic0".into(),
        ..Default::default()
    };
    assert_eq!(
        c.set_power_limit(authed(empty)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // Authenticated, but there is no module here: UNAVAILABLE, saying why.
    let e = c.set_power_limit(authed(req())).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(e.message().contains("module"), "{e}");
}

#[tokio::test]
async fn the_telemetry_stream_opens_and_ends_with_the_client() {
    let a = start("stream");
    let (mut c, _) = connect(&a).await;
    let mut s = c
        .stream_telemetry(StreamTelemetryRequest { period_ms: 100 })
        .await
        .unwrap()
        .into_inner();
    // No module, so no devices: the stream stays open and quiet (the guest's clients see samples).
    let next = tokio::time::timeout(Duration::from_millis(400), s.message()).await;
    assert!(next.is_err(), "an item without devices: {next:?}");
    drop(s);
    // The agent still answers after the client went away.
    assert!(
        c.health_check(HealthCheckRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
}
