//! Compiles the node-to-node Raft transport (`proto/raft.proto`) with protox (no system
//! `protoc`). The public API is `fairshare-api`'s; this schema is internal to the node.
//! The descriptor set is written to OUT_DIR for server reflection.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["raft.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("raft_descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
