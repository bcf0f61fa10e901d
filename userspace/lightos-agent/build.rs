//! Compiles the gRPC services of ../../proto (the Open Inference Protocol's GRPCInferenceService)
//! into Rust: protox parses the schema (no `protoc` needed), tonic-prost-build generates the
//! messages and the server traits.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/inference.proto");
    let descriptors = protox::compile(["inference.proto"], ["../../proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}
