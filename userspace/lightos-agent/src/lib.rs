//! `lightos-agent`, the LightOS node daemon: a model repository served over the Open Inference
//! Protocol (KServe v2, HTTP and gRPC) with dynamic batching and bounded queues, Prometheus metrics of the
//! models and the devices, a live dashboard and the `lightos.agent.v1` control plane. Every primitive of every model is a job of `/dev/lightos` (or, without
//! the kernel module, runs in this process on the CPU backend).

pub mod activity;
pub mod batch;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod model;
pub mod power;
pub mod primitive;
pub mod repository;
pub mod serve;
pub mod telemetry;
