//! The control plane, `lightos.agent.v1.Agent` (proto/agent.proto): devices, jobs (a model's
//! inference or one primitive), a telemetry stream, power limits and health. SubmitJob and
//! SetPowerLimit need the bearer token in the `authorization` metadata.

use crate::{
    batch::Tensor,
    power::{self, PowerError},
    primitive::{self, PrimitiveError},
    serve::{self, datatype_size, App, Named, Refusal},
};
use lightos_runtime::{
    accel::{Accelerator, DeviceKind},
    dtype_names, op_names,
    thermal::PowerControls,
    Context, Op,
};
use std::{collections::BTreeMap, pin::Pin, sync::Arc, time::Duration};
use tokio_stream::{wrappers::ReceiverStream, Stream};
use tonic::{Request, Response, Status};

/// The messages, server and client generated from proto/agent.proto.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("lightos.agent.v1");
}

use proto::{agent_server::AgentServer, telemetry::Item, *};

/// The service over the agent's state.
pub struct Control(pub Arc<App>);

/// The tonic service, taking messages up to `max_bytes`.
pub fn service(app: Arc<App>, max_bytes: usize) -> AgentServer<Control> {
    AgentServer::new(Control(app)).max_decoding_message_size(max_bytes)
}

fn authorize<T>(app: &App, r: &Request<T>) -> Result<(), Status> {
    let given = r
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    serve::check_token(app, given).map_err(|refusal| match refusal {
        Refusal::NoToken => Status::permission_denied(serve::NO_TOKEN),
        Refusal::Unauthenticated => {
            Status::unauthenticated("this call needs the metadata 'authorization: Bearer <token>'")
        }
    })
}

/// A request tensor as the serving core takes it, its byte count checked against its shape.
fn named(t: proto::Tensor) -> Result<Named, Status> {
    let bad = |m: String| Status::invalid_argument(format!("input {}: {m}", t.name));
    let esize = datatype_size(&t.datatype)
        .ok_or_else(|| bad(format!("datatype {} is not served", t.datatype)))?;
    let dims: Vec<u64> = t
        .shape
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect::<Result<_, _>>()?;
    let count = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    if count.and_then(|c| (c as usize).checked_mul(esize)) != Some(t.data.len()) {
        return Err(bad(format!(
            "{} bytes for shape {dims:?} of {}",
            t.data.len(),
            t.datatype
        )));
    }
    Ok(Named {
        name: t.name,
        datatype: t.datatype,
        tensor: Tensor {
            dims,
            bytes: t.data,
        },
    })
}

fn kernel_error(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("{e} (is the module loaded and lightosd running?)"))
}

type TelemetryStream = Pin<Box<dyn Stream<Item = Result<proto::Telemetry, Status>> + Send>>;

#[tonic::async_trait]
impl proto::agent_server::Agent for Control {
    async fn list_devices(
        &self,
        _: Request<ListDevicesRequest>,
    ) -> Result<Response<ListDevicesResponse>, Status> {
        let node = self.0.node.clone();
        let devices = tokio::task::spawn_blocking(move || -> Result<Vec<Device>, Status> {
            if !node.exists() {
                let ops = lightos_cpu::exec::OPS
                    .iter()
                    .filter_map(|&o| Op::from_raw(o))
                    .fold(0, |m, o| m | o.bit());
                return Ok(vec![Device {
                    name: "local".into(),
                    kind: "in-process".into(),
                    ops: op_names(ops),
                    dtypes: dtype_names(lightos_cpu::exec::DTYPES),
                    ..Default::default()
                }]);
            }
            let ctx = Context::open_path(&node).map_err(kernel_error)?;
            let list = Accelerator::with(ctx)
                .and_then(|a| a.devices())
                .map_err(kernel_error)?;
            Ok(list
                .into_iter()
                .map(|p| Device {
                    name: p.name,
                    backend_id: p.backend_id,
                    kind: match p.kind {
                        DeviceKind::Hardware => "device",
                        DeviceKind::Executor => "executor",
                    }
                    .into(),
                    ops: op_names(p.ops),
                    dtypes: dtype_names(p.dtypes),
                    load: u64::from(p.queued + p.running),
                    jobs: p.jobs,
                    errors: p.errors,
                    temperature_c: p.temperature_c,
                    power_w: p.power_w,
                    thermal_state: p.thermal_state.unwrap_or_default().into(),
                })
                .collect())
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(ListDevicesResponse { devices }))
    }

    async fn submit_job(
        &self,
        r: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobResponse>, Status> {
        authorize(&self.0, &r)?;
        let arrived = std::time::Instant::now();
        let req = r.into_inner();
        let inputs = req
            .inputs
            .into_iter()
            .map(named)
            .collect::<Result<Vec<_>, _>>()?;
        let wire = |name: String, t: &Tensor| proto::Tensor {
            name,
            datatype: "FP32".into(),
            shape: t.dims.iter().map(|&d| d as i64).collect(),
            data: t.bytes.clone(),
        };
        if !req.primitive.is_empty() {
            if !req.model.is_empty() {
                return Err(Status::invalid_argument(
                    "give a model or a primitive, not both",
                ));
            }
            let app = Arc::clone(&self.0);
            let attrs: BTreeMap<String, i64> = req.attributes.into_iter().collect();
            let y = tokio::task::spawn_blocking(move || {
                let at = app.repository.placement();
                primitive::run(&req.primitive, &attrs, inputs, &req.device, at)
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| match e {
                PrimitiveError::Invalid(m) => Status::invalid_argument(m),
                PrimitiveError::Failed(m) => Status::unavailable(m),
            })?;
            return Ok(Response::new(SubmitJobResponse {
                outputs: vec![wire(primitive::OUTPUT.into(), &y)],
                queue_seconds: 0.0,
                compute_seconds: arrived.elapsed().as_secs_f64(),
                batch_rows: y.dims.first().copied().unwrap_or(1),
            }));
        }
        let model =
            serve::find(&self.0, &req.model, Some(&req.version)).map_err(crate::grpc::status)?;
        let (wanted, reply) = serve::infer(&self.0, &model, inputs, &req.outputs, arrived)
            .await
            .map_err(crate::grpc::status)?;
        let outputs = wanted
            .into_iter()
            .map(|k| wire(model.outputs[k].name.clone(), &reply.outputs[k]))
            .collect();
        Ok(Response::new(SubmitJobResponse {
            outputs,
            queue_seconds: reply.queued.as_secs_f64(),
            compute_seconds: reply.compute.as_secs_f64(),
            batch_rows: reply.batch_rows,
        }))
    }

    type StreamTelemetryStream = TelemetryStream;

    async fn stream_telemetry(
        &self,
        r: Request<StreamTelemetryRequest>,
    ) -> Result<Response<TelemetryStream>, Status> {
        let period = Duration::from_millis(u64::from(r.into_inner().period_ms.max(100)));
        let telemetry = Arc::clone(&self.0.telemetry);
        let mut events = telemetry.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                let now = |t: &crate::telemetry::Telemetry| t.started.elapsed().as_millis() as u64;
                let items: Vec<Item> = tokio::select! {
                    _ = tick.tick() => telemetry
                        .snapshot()
                        .devices
                        .into_values()
                        .map(|d| Item::Sample(DeviceSample {
                            device: d.name,
                            load: d.load,
                            jobs: d.jobs,
                            temperature_c: d.temperature_c,
                            power_w: d.power_w,
                            energy_j: d.energy_j,
                            thermal_state: d.thermal_state.unwrap_or_default().into(),
                        }))
                        .collect(),
                    e = events.recv() => match e {
                        Ok(e) => vec![Item::Event(ThermalEvent {
                            seq: e.seq,
                            device: e.device,
                            kind: e.kind.into(),
                            temperature_c: e.temperature_c,
                            laser_limit_mw: e.laser_limit_mw,
                        })],
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Vec::new(),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                };
                for item in items {
                    let t = proto::Telemetry {
                        time_ms: now(&telemetry),
                        item: Some(item),
                    };
                    if tx.send(Ok(t)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn set_power_limit(
        &self,
        r: Request<SetPowerLimitRequest>,
    ) -> Result<Response<SetPowerLimitResponse>, Status> {
        authorize(&self.0, &r)?;
        let req = r.into_inner();
        if req.laser_cap_mw.is_none() && req.tec_floor_permille.is_none() {
            return Err(Status::invalid_argument(
                "give laser_cap_mw, tec_floor_permille or both",
            ));
        }
        let node = self.0.node.clone();
        let controls = PowerControls {
            laser_cap_mw: req.laser_cap_mw,
            tec_floor_permille: req.tec_floor_permille,
        };
        tokio::task::spawn_blocking(move || power::set_limit(&node, &req.device, controls))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| match e {
                PowerError::Kernel(m) => kernel_error(m),
                PowerError::UnknownDevice { .. } => Status::not_found(e.to_string()),
                PowerError::Refused(m) => Status::invalid_argument(m),
            })?;
        Ok(Response::new(SetPowerLimitResponse {}))
    }

    async fn health_check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let node = self.0.node.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            match Context::open_path(&node).and_then(|c| c.info()) {
                Ok(i) => format!("{} ABI {}.{}", node.display(), i.abi_major, i.abi_minor),
                Err(e) => format!(
                    "{}: {e} (models run in the agent's process)",
                    node.display()
                ),
            }
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        let models = self
            .0
            .repository
            .loaded()
            .iter()
            .map(|m| ModelState {
                name: m.name.clone(),
                version: m.version.clone(),
                device: m.device.clone(),
            })
            .collect();
        Ok(Response::new(HealthCheckResponse {
            live: true,
            ready: self.0.ready.load(std::sync::atomic::Ordering::Acquire),
            models,
            kernel,
        }))
    }
}
