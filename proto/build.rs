//! Compiles the ledger schema with protox (pure Rust: no system `protoc` needed).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let ledger = protox::compile(["fairshare/ledger.proto"], ["proto"])?;
    prost_build::Config::new().btree_map(["."]).compile_fds(ledger)?;
    // The audit file format refers to ledger types: point them at `crate::pb`.
    let audit = protox::compile(["fairshare/audit.proto"], ["proto"])?;
    prost_build::Config::new().btree_map(["."]).extern_path(".fairshare.ledger.v1", "crate::pb").compile_fds(audit)?;
    Ok(())
}
