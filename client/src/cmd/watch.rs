//! `fairshare watch --insurer ID`: new obligations of one insurer, live, one line each.
//!
//! The node streams obligations from a leaf index on, without gaps or duplicates. The
//! client remembers what it printed in `watch/<insurer>` beside the client config (the
//! last leaf index, and the obligations of that leaf already printed), so a watch that is
//! stopped and started again continues where it left off and prints nothing twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fairshare_client::views::ObligationRow;

use super::Context;

/// How long the watch keeps trying to reach a node before it gives up.
const RECONNECT_DEADLINE: Duration = Duration::from_secs(60);
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Follow the new obligations of one insurer (a line each), resuming where the last watch stopped.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare watch --insurer zk                 # from where the previous watch stopped\n  \
    fairshare watch --insurer zk --from 0        # everything from the start of the log\n  \
    fairshare watch --insurer zk --json          # one JSON object per line\n\n\
    Ctrl-C stops it; the position is kept in watch/<insurer> beside the client config.")]
pub struct Args {
    /// The insurer whose new obligations are printed (a genesis id, e.g. zk).
    #[arg(long, value_name = "ID")]
    insurer: String,
    /// Start at this leaf index instead of the remembered position (the remembered
    /// position never moves back: a later plain watch continues after the furthest leaf printed).
    #[arg(long, value_name = "INDEX")]
    from: Option<u64>,
}

/// One line of `watch --json`.
#[derive(serde::Serialize)]
struct WatchLine<'row> {
    index: u64,
    obligation: &'row ObligationRow,
}

/// The last leaf index printed and which of its obligations were printed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Position {
    index: u64,
    printed: BTreeSet<String>,
}

impl Position {
    fn load(path: &Path) -> Result<Position> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Position::default()),
            Err(error) => return Err(error).with_context(|| format!("cannot read the watch position {}", path.display())),
        };
        let mut lines = text.lines();
        let index = lines
            .next()
            .unwrap_or("0")
            .trim()
            .parse()
            .with_context(|| format!("watch position {} is malformed; remove it to start over", path.display()))?;
        Ok(Position { index, printed: lines.map(str::to_string).filter(|line| !line.is_empty()).collect() })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut text = format!("{}\n", self.index);
        for id in &self.printed {
            text.push_str(id);
            text.push('\n');
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text).with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Whether an obligation of leaf `index` is new, recording it if so.
    fn admit(&mut self, index: u64, id: &str) -> bool {
        if index < self.index || (index == self.index && self.printed.contains(id)) {
            return false;
        }
        if index > self.index {
            self.index = index;
            self.printed.clear();
        }
        self.printed.insert(id.to_string());
        true
    }

    /// Moves this saved bookmark forward to what a watch has printed (`shown`); never back,
    /// so `watch --from 0` over old leaves leaves the bookmark of the plain `watch` where it
    /// was. Returns whether the bookmark changed.
    fn advance_to(&mut self, shown: &Position) -> bool {
        if shown.index > self.index {
            *self = Position { index: shown.index, printed: shown.printed.clone() };
            return true;
        }
        if shown.index == self.index && !shown.printed.is_subset(&self.printed) {
            self.printed.extend(shown.printed.iter().cloned());
            return true;
        }
        false
    }
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let connection = context.connection()?;
        let dir: PathBuf = context.state_dir().join("watch");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(&self.insurer);
        // The saved bookmark only moves forward; --from starts the stream elsewhere but
        // never drags the bookmark of the next plain `watch` back.
        let mut bookmark = Position::load(&path)?;
        let mut position = match self.from {
            Some(index) => Position { index, printed: BTreeSet::new() },
            None => Position { index: bookmark.index, printed: bookmark.printed.clone() },
        };
        if !context.json {
            eprintln!("watching new obligations of {} from leaf {} (Ctrl-C stops)", self.insurer, position.index);
        }
        let mut failing_since: Option<Instant> = None;
        loop {
            let stream = tokio::select! {
                stream = connection.watch(&self.insurer, position.index) => stream,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let mut stream = match stream {
                Ok((_, stream)) => stream,
                Err(fairshare_client::connection::ClientError::NoNode { tried }) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECONNECT_DEADLINE {
                        bail!(
                            "no node answered for {}s ({}); the watch stops at leaf {}",
                            RECONNECT_DEADLINE.as_secs(),
                            tried.join("; "),
                            position.index
                        );
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            failing_since = None;
            loop {
                let event = tokio::select! {
                    event = stream.message() => event,
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                };
                let event = match event {
                    Ok(Some(event)) => event,
                    Ok(None) | Err(_) => break, // the node went away: resume on another
                };
                let row: ObligationRow =
                    serde_json::from_str(&event.json).context("the node sent an obligation this client does not understand")?;
                if !position.admit(event.index, &row.id) {
                    continue;
                }
                if context.json {
                    println!("{}", serde_json::to_string(&WatchLine { index: event.index, obligation: &row })?);
                } else {
                    let provider = if row.provider == row.payee { String::new() } else { format!(" for {}", row.provider) };
                    println!(
                        "leaf {:>6}  {:<44} {:>14}  to {}{provider}  ({}, attained {})",
                        event.index,
                        row.id,
                        row.amount.to_string(),
                        row.payee,
                        row.sector,
                        row.attained_on
                    );
                }
                if bookmark.advance_to(&position) {
                    bookmark.save(&path)?;
                }
            }
            if !context.json {
                eprintln!("stream interrupted at leaf {}; reconnecting", position.index);
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_watch_prints_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zk");
        let mut position = Position::load(&path).unwrap();
        assert!(position.admit(7, "p/m/1/zk"));
        position.save(&path).unwrap();
        let mut resumed = Position::load(&path).unwrap();
        assert!(!resumed.admit(7, "p/m/1/zk"), "printed before the restart");
        assert!(resumed.admit(7, "p/m/2/zk"), "same leaf, not printed yet");
        assert!(resumed.admit(9, "q/m/1/zk"));
        assert!(!resumed.admit(7, "p/m/3/zk"), "an older leaf is behind us");
        assert_eq!(resumed.printed.len(), 1);
    }

    #[test]
    fn watching_from_an_earlier_leaf_never_moves_the_bookmark_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zk");
        let mut bookmark = Position::load(&path).unwrap();
        let mut plain = Position::default();
        assert!(plain.admit(9, "q/m/1/zk"));
        assert!(bookmark.advance_to(&plain));
        bookmark.save(&path).unwrap();

        // `watch --from 0`: leaves 3 and 9 again, then a new one at 12.
        let mut bookmark = Position::load(&path).unwrap();
        let mut rewound = Position { index: 0, printed: BTreeSet::new() };
        assert!(rewound.admit(3, "p/m/1/zk"));
        assert!(!bookmark.advance_to(&rewound), "leaf 3 is behind the bookmark at 9");
        assert!(rewound.admit(9, "q/m/1/zk"));
        assert!(!bookmark.advance_to(&rewound), "leaf 9's obligation was printed before");
        assert_eq!(Position::load(&path).unwrap(), Position { index: 9, printed: ["q/m/1/zk".to_string()].into() });
        assert!(rewound.admit(12, "r/m/1/zk"));
        assert!(bookmark.advance_to(&rewound));
        bookmark.save(&path).unwrap();
        assert_eq!(Position::load(&path).unwrap().index, 12);
    }
}
