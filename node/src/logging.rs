//! The node's log (stderr, human or JSON lines), shared by `fairshare-node` and the CLI's
//! embedded `fairshare node`. An insecure node (`--insecure`) says so in every line.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// What every log line of an insecure node starts with.
pub const INSECURE_PREFIX: &str = "INSECURE (plain text, no authentication: --insecure) ";

/// Installs the global subscriber: `RUST_LOG`, else info with the chatty crates at warn.
pub fn init(json: bool, insecure: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn,sled=warn,h2=warn,tower=warn".into());
    // Devnet nodes write to log files: colours only on a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(Stderr { insecure, json });
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// stderr, marking each event of an insecure node.
#[derive(Clone, Copy)]
struct Stderr {
    insecure: bool,
    json: bool,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event { insecure: self.insecure, json: self.json, started: false }
    }
}

/// One event's writer: tracing-subscriber makes one per event and writes the formatted line.
struct Event {
    insecure: bool,
    json: bool,
    started: bool,
}

impl Write for Event {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        if self.insecure && !self.started && !buf.is_empty() {
            self.started = true;
            if self.json && buf[0] == b'{' {
                stderr.write_all(b"{\"insecure\":true,")?;
                stderr.write_all(&buf[1..])?;
                return Ok(buf.len());
            }
            stderr.write_all(INSECURE_PREFIX.as_bytes())?;
        }
        stderr.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
