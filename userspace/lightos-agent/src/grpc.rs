//! The gRPC server of the Open Inference Protocol: `inference.GRPCInferenceService`
//! (proto/inference.proto) over tonic. Inputs come as raw bytes (`raw_input_contents`, what
//! tritonclient sends) or typed contents; outputs are always raw. Errors are statuses:
//! INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED (queue full), DEADLINE_EXCEEDED, UNAVAILABLE.

use crate::{
    batch::Tensor,
    model::{RunError, TensorSpec},
    serve::{self, datatype, datatype_size, App, InferError, Named},
};
use std::{
    sync::{atomic::Ordering, Arc},
    time::Instant,
};
use tonic::{Request, Response, Status};

/// The messages and service traits generated from proto/inference.proto.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::{
    grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer},
    model_infer_response::InferOutputTensor,
    model_metadata_response::TensorMetadata,
    *,
};

/// The service over the agent's state.
pub struct Inference(pub Arc<App>);

/// The tonic service, taking messages up to `max_bytes`.
pub fn service(app: Arc<App>, max_bytes: usize) -> GrpcInferenceServiceServer<Inference> {
    GrpcInferenceServiceServer::new(Inference(app))
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(usize::MAX)
}

/// The gRPC status of an inference error (the control plane's SubmitJob uses it too).
pub(crate) fn status(e: InferError) -> Status {
    match &e {
        InferError::BadRequest(_) | InferError::Run(RunError::Input(_)) => {
            Status::invalid_argument(e.to_string())
        }
        InferError::NotFound(_) => Status::not_found(e.to_string()),
        InferError::Run(RunError::QueueFull(..)) => Status::resource_exhausted(e.to_string()),
        InferError::Run(RunError::Deadline(_)) => Status::deadline_exceeded(e.to_string()),
        InferError::Run(RunError::Run(_) | RunError::Unloading(_)) => {
            Status::unavailable(e.to_string())
        }
    }
}

fn metadata(specs: &[TensorSpec], outputs: bool) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|s| TensorMetadata {
            name: s.name.clone(),
            datatype: if outputs { "FP32" } else { datatype(s.dtype) }.to_string(),
            shape: s.dims.iter().map(|d| d.map_or(-1, |n| n as i64)).collect(),
        })
        .collect()
}

/// Input `i` of `req`: its bytes from `raw_input_contents[i]` or from its typed contents.
fn input(req: &ModelInferRequest, i: usize) -> Result<Named, InferError> {
    let t = &req.inputs[i];
    let bad = |m: String| InferError::BadRequest(format!("input {}: {m}", t.name));
    let esize = datatype_size(&t.datatype).ok_or_else(|| {
        bad(format!(
            "datatype {} is not served (FP32, INT64)",
            t.datatype
        ))
    })?;
    let dims: Vec<u64> = t
        .shape
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect::<Result<_, _>>()?;
    let count = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {dims:?} overflows")))? as usize;
    let bytes = if let Some(raw) = req.raw_input_contents.get(i) {
        raw.clone()
    } else if let Some(c) = &t.contents {
        if t.datatype == "INT64" {
            c.int64_contents
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        } else {
            c.fp32_contents
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        }
    } else {
        return Err(bad(
            "no data (neither raw_input_contents nor contents)".into()
        ));
    };
    if count.checked_mul(esize) != Some(bytes.len()) {
        return Err(bad(format!(
            "{} bytes of data for shape {dims:?} of {} ({} bytes)",
            bytes.len(),
            t.datatype,
            count.saturating_mul(esize)
        )));
    }
    Ok(Named {
        name: t.name.clone(),
        datatype: t.datatype.clone(),
        tensor: Tensor { dims, bytes },
    })
}

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.0.ready.load(Ordering::Acquire),
        }))
    }

    async fn model_ready(
        &self,
        r: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let r = r.into_inner();
        let ready = serve::find(&self.0, &r.name, Some(&r.version)).is_ok();
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "lightos-agent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: vec!["binary_tensor_data".into(), "model_repository".into()],
        }))
    }

    async fn model_metadata(
        &self,
        r: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let m = serve::find(&self.0, &r.name, Some(&r.version)).map_err(status)?;
        Ok(Response::new(ModelMetadataResponse {
            name: m.name.clone(),
            versions: vec![m.version.clone()],
            platform: "lightos_graph".into(),
            inputs: metadata(&m.inputs, false),
            outputs: metadata(&m.outputs, true),
        }))
    }

    async fn model_infer(
        &self,
        r: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let arrived = Instant::now();
        let req = r.into_inner();
        let model =
            serve::find(&self.0, &req.model_name, Some(&req.model_version)).map_err(status)?;
        let inputs = match (0..req.inputs.len())
            .map(|i| input(&req, i))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(i) => i,
            Err(e) => {
                self.0.metrics.failure(&model.name);
                return Err(status(e));
            }
        };
        let names: Vec<String> = req.outputs.iter().map(|o| o.name.clone()).collect();
        let (wanted, reply) = serve::infer(&self.0, &model, inputs, &names, arrived)
            .await
            .map_err(status)?;
        let mut outputs = Vec::with_capacity(wanted.len());
        let mut raw = Vec::with_capacity(wanted.len());
        for k in wanted {
            let t = &reply.outputs[k];
            outputs.push(InferOutputTensor {
                name: model.outputs[k].name.clone(),
                datatype: "FP32".into(),
                shape: t.dims.iter().map(|&d| d as i64).collect(),
                parameters: Default::default(),
                contents: None,
            });
            raw.push(t.bytes.clone());
        }
        Ok(Response::new(ModelInferResponse {
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            id: req.id,
            parameters: Default::default(),
            outputs,
            raw_output_contents: raw,
        }))
    }
}
