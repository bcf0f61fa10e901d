//! The workloads behind `lightos` commands that applications and tests use too.
//!
//! - [`mlp`]: a multilayer perceptron on the runtime's device API, and its `.lmlp` file format
//!   (`lightos run mlp`).

pub mod mlp;
