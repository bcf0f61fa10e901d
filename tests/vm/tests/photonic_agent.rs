//! lightos-agent's control plane (`lightos.agent.v1.Agent`, through the agent crate's tonic
//! client) against the module with photonic0 bound and lightosd's CPU backend as cpu0: the
//! devices the kernel knows, a power limit reaching photonic0's guard (and the kernel's refusal
//! of one out of range), the telemetry stream's samples of photonic0, a model job on cpu0, and
//! the health report naming the module's ABI. The agent is the guest's own `lightos-agent`.

use lightos_agent::control::proto::{
    agent_client::AgentClient, telemetry::Item, HealthCheckRequest, ListDevicesRequest,
    SetPowerLimitRequest, StreamTelemetryRequest, SubmitJobRequest, Tensor,
};
use lightos_runtime::Context;
use lightos_uapi as uapi;
use lightos_vm_tests::{backend_jobs, photonic, ExecutorThread};
use std::{
    process::{Child, Command},
    time::Duration,
};
use tonic::{transport::Channel, Code, Request};

const TOKEN: &str = "vm-token";

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The agent serving SqueezeNet (the model zoo's light file the suite is given) on cpu0.
fn start() -> Agent {
    let model = std::fs::canonicalize("light_squeezenet.onnx")
        .expect("light_squeezenet.onnx in the working directory (tests/run-all.sh adds it)");
    let root = std::path::Path::new("/tmp/agent-vm");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("models/squeezenet/1")).unwrap();
    std::fs::copy(&model, root.join("models/squeezenet/1/model.onnx")).unwrap();
    std::fs::write(
        root.join("models/squeezenet/config.toml"),
        "device = \"cpu0\"\nmax_batch = 1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("agent.toml"),
        format!(
            "[server]\nhttp = \"127.0.0.1:18000\"\ngrpc = \"127.0.0.1:18001\"\n\
             [models]\nrepository = \"/tmp/agent-vm/models\"\n[auth]\ntoken = \"{TOKEN}\"\n\
             [power.photonic0]\nlaser_cap_mw = 400\n"
        ),
    )
    .unwrap();
    let child = Command::new("lightos-agent")
        .args(["--config", "/tmp/agent-vm/agent.toml"])
        .spawn()
        .expect("lightos-agent on PATH (qemu/run puts the guest binaries in /usr/bin)");
    Agent(child)
}

async fn connect() -> AgentClient<Channel> {
    for _ in 0..600 {
        if let Ok(ch) = Channel::from_static("http://127.0.0.1:18001")
            .connect()
            .await
        {
            let mut c = AgentClient::new(ch);
            if let Ok(h) = c.health_check(HealthCheckRequest {}).await {
                if h.into_inner().ready {
                    return c;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the agent did not become ready within 60 s");
}

fn authed<T>(msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    r
}

#[test]
fn the_control_plane_reports_and_steers_the_devices() {
    photonic::npu_ready(0);
    let cpu = ExecutorThread::lightosd("cpu0", 2);
    let _agent = start();
    let dev = Context::open().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = connect().await;
        let h = c
            .health_check(HealthCheckRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(
            h.kernel
                .contains(&format!("ABI {}.{}", uapi::ABI_MAJOR, uapi::ABI_MINOR)),
            "{}",
            h.kernel
        );
        assert_eq!(h.models.len(), 1, "{h:?}");
        assert!(h.models[0].device.starts_with("cpu0"), "{h:?}");

        let devices = c
            .list_devices(ListDevicesRequest {})
            .await
            .unwrap()
            .into_inner()
            .devices;
        let p = devices
            .iter()
            .find(|d| d.name == "photonic0")
            .expect("photonic0 listed");
        assert_eq!(
            (p.kind.as_str(), p.ops.as_slice()),
            ("device", &["matmul".to_string()][..])
        );
        assert!(
            p.temperature_c.is_some_and(|t| t > 0.0) && p.power_w.is_some(),
            "{p:?}"
        );
        let cpu0 = devices
            .iter()
            .find(|d| d.name == "cpu0")
            .expect("cpu0 listed");
        assert_eq!(cpu0.kind, "executor");
        assert_eq!(cpu0.temperature_c, None);

        let guard = |d: &Context| {
            d.thermal()
                .unwrap()
                .devices
                .into_iter()
                .find(|g| g.name == "photonic0")
                .unwrap()
        };
        // The config's [power.photonic0] was applied at start.
        assert_eq!(guard(&dev).laser_cap_mw, 400);

        // A laser cap through the agent is the guard's; out of range, the kernel's EINVAL.
        let cap = |mw| SetPowerLimitRequest {
            device: "photonic0".into(),
            laser_cap_mw: Some(mw),
            tec_floor_permille: None,
        };
        assert_eq!(
            c.set_power_limit(cap(300)).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        c.set_power_limit(authed(cap(300))).await.unwrap();
        assert_eq!(guard(&dev).laser_cap_mw, 300);
        let e = c
            .set_power_limit(authed(cap(uapi::LASER_MAX_MW + 1)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.message().contains("EINVAL"), "{e}");
        let e = c
            .set_power_limit(authed(SetPowerLimitRequest {
                device: "photonic9".into(),
                laser_cap_mw: Some(30),
                tec_floor_permille: None,
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");
        c.set_power_limit(authed(cap(uapi::LASER_MAX_MW)))
            .await
            .unwrap();
        assert_eq!(guard(&dev).laser_cap_mw, uapi::LASER_MAX_MW);

        // The stream's samples carry photonic0's temperature.
        let mut s = c
            .stream_telemetry(StreamTelemetryRequest { period_ms: 200 })
            .await
            .unwrap()
            .into_inner();
        let mut seen = false;
        for _ in 0..20 {
            let t = tokio::time::timeout(Duration::from_secs(10), s.message())
                .await
                .expect("a telemetry item within 10 s")
                .unwrap()
                .expect("the stream is open");
            if let Some(Item::Sample(d)) = t.item {
                if d.device == "photonic0" {
                    assert!(
                        d.temperature_c.is_some_and(|t| t > 0.0) && d.power_w.is_some(),
                        "{d:?}"
                    );
                    seen = true;
                    break;
                }
            }
        }
        assert!(seen, "no sample of photonic0 in 20 items");
        drop(s);

        // A model job: SqueezeNet on cpu0, every primitive a job of cpu0.
        let before = backend_jobs(&dev, cpu.backend_id);
        let x = vec![0u8; 3 * 224 * 224 * 4];
        let job = SubmitJobRequest {
            model: "squeezenet".into(),
            inputs: vec![Tensor {
                name: "data_0".into(),
                datatype: "FP32".into(),
                shape: vec![1, 3, 224, 224],
                data: x,
            }],
            ..Default::default()
        };
        let r = c.submit_job(authed(job)).await.unwrap().into_inner();
        assert_eq!(
            r.outputs[0].shape.iter().product::<i64>(),
            1000,
            "{:?}",
            r.outputs[0].shape
        );
        assert!(
            backend_jobs(&dev, cpu.backend_id) > before + 20,
            "the job's primitives ran on cpu0"
        );

        // A primitive job: one MatMul on photonic0, a job of photonic0 through the kernel.
        let npu = dev
            .backends()
            .unwrap()
            .into_iter()
            .find(|b| b.name == "photonic0")
            .expect("photonic0 registered");
        let before = backend_jobs(&dev, npu.id);
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (a, b) = ([0.5f32; 64], [0.25f32; 64 * 8]);
        let job = SubmitJobRequest {
            primitive: "MatMul".into(),
            device: "photonic0".into(),
            inputs: vec![
                Tensor {
                    name: "a".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 64],
                    data: f32s(&a),
                },
                Tensor {
                    name: "b".into(),
                    datatype: "FP32".into(),
                    shape: vec![64, 8],
                    data: f32s(&b),
                },
            ],
            ..Default::default()
        };
        let r = c.submit_job(authed(job)).await.unwrap().into_inner();
        assert_eq!(r.outputs[0].shape, [1, 8]);
        // 64 × 0.5 × 0.25 = 8, within the analog error of a rank-1 partial tile.
        for w in r.outputs[0].data.chunks_exact(4) {
            let y = f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            assert!(
                (y - 8.0).abs() / 8.0 < lightos_runtime::tolerance::PHOTONIC_MATMUL,
                "photonic0's MatMul gave {y}"
            );
        }
        assert!(
            backend_jobs(&dev, npu.id) > before,
            "the MatMul ran on photonic0"
        );
    });
}
