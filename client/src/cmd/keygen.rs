//! `fairshare keygen --out FILE`: a new ed25519 key pair.

use std::path::PathBuf;

use anyhow::Result;
use fairshare_client::keyfile;

use super::Context;

/// Make a new ed25519 signing key: writes the secret key (64 hex digits, mode 0600) and prints the public key.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  fairshare keygen --out keys/zk.key\n  # put the printed public key in genesis.toml as the insurer's public_key (or node_key)"
)]
pub struct Args {
    /// Where to write the secret key; an existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

impl Args {
    pub fn run(self, context: &Context) -> Result<()> {
        let key = keyfile::generate();
        keyfile::write_new(&self.out, &key)?;
        let public = keyfile::public_hex(&key);
        if context.json {
            context.print_json(&serde_json::json!({ "public_key": public, "secret_key_file": self.out }))?;
        } else {
            println!("{public}");
            eprintln!("secret key written to {} (mode 0600); the line above is the public key for genesis", self.out.display());
        }
        Ok(())
    }
}
