//! Compiles the node's public gRPC API with protox (no system `protoc`). The ledger types
//! it refers to come from `fairshare_protocol::pb`; the descriptor set (with the imported
//! ledger schema) is written to OUT_DIR for server reflection.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../proto/proto");
    let descriptors = protox::compile(["fairshare/api.proto"], ["proto", "../proto/proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("api_descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().extern_path(".fairshare.ledger.v1", "::fairshare_protocol::pb").compile_fds(descriptors)?;
    Ok(())
}
