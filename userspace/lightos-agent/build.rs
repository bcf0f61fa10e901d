//! Compiles the gRPC services of ../../proto (the Open Inference Protocol's GRPCInferenceService,
//! the agent's control plane lightos.agent.v1.Agent)
//! into Rust: protox parses the schema (no `protoc` needed), tonic-prost-build generates the
//! messages and the server traits.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/inference.proto");
    println!("cargo:rerun-if-changed=../../proto/agent.proto");
    let inference = protox::compile(["inference.proto"], ["../../proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(inference)?;
    // The control plane's client too: the agent's tests, and tools, call it from Rust.
    let agent = protox::compile(["agent.proto"], ["../../proto"])?;
    tonic_prost_build::configure().compile_fds(agent)?;
    Ok(())
}
