//! Compiles the subset of etcd's gRPC API that the `etcd-bench` load generator calls
//! (`proto/etcd/rpc.proto`), with protox: no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["etcd/rpc.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(false).compile_fds(descriptors)?;
    Ok(())
}
