//! Compiles ONNX's protobuf schema (proto/onnx.proto, vendored from the `onnx` 1.23.2 wheel,
//! Apache-2.0) into Rust types with prost. protox parses the schema in Rust, so no `protoc` binary
//! is needed; every `bytes` field becomes a `bytes::Bytes`, so tensors decoded from a memory-mapped
//! file share its pages instead of being copied.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["onnx.proto"], ["proto"])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
