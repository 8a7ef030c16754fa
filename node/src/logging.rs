//! The node's log (stderr, human or JSON lines), shared by `fairshare-node` and the CLI's
//! embedded `fairshare node`. An insecure node (`--insecure`) says so in every line.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// What every log line of an insecure node starts with.
pub const INSECURE_PREFIX: &str = "INSECURE (plain text, no authentication: --insecure) ";

/// Installs the global subscriber: `RUST_LOG`, else info with the chatty crates at warn;
/// openraft's ERROR lines about an unreachable peer are left out (see [`PeerUnreachable`]).
pub fn init(json: bool, insecure: bool) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn,sled=warn,h2=warn,tower=warn".into());
    // Devnet nodes write to log files: colours only on a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(Stderr { insecure, json });
    let layer = if json { layer.json().boxed() } else { layer.boxed() };
    tracing_subscriber::registry().with(layer.with_filter(filter).with_filter(PeerUnreachable)).init();
}

/// Leaves out openraft's ERROR events about a peer it cannot reach (`RPCError` in
/// replication, "while requesting vote"): openraft logs every failed attempt at ERROR, so a
/// healthy cluster whose nodes start one after another logged dozens of them before the
/// last one listened. That is an expected condition, not an error: the node's peer probe
/// (`node::probe_peers`) says once, at WARN, when a peer stops being reachable and at INFO
/// when it is reachable again, and status and metrics show it. Every other openraft error
/// still comes through.
struct PeerUnreachable;

impl PeerUnreachable {
    fn is_unreachable_peer(event: &tracing::Event<'_>) -> bool {
        struct Finds(bool);
        impl tracing::field::Visit for Finds {
            fn record_debug(&mut self, _field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0 |= format!("{value:?}").contains("Unreachable node");
            }
            fn record_str(&mut self, _field: &tracing::field::Field, value: &str) {
                self.0 |= value.contains("Unreachable node");
            }
        }
        let metadata = event.metadata();
        if *metadata.level() != tracing::Level::ERROR || !metadata.target().starts_with("openraft") {
            return false;
        }
        let mut finds = Finds(false);
        event.record(&mut finds);
        finds.0
    }
}

impl<S> tracing_subscriber::layer::Filter<S> for PeerUnreachable {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>, _context: &tracing_subscriber::layer::Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, _context: &tracing_subscriber::layer::Context<'_, S>) -> bool {
        !Self::is_unreachable_peer(event)
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
