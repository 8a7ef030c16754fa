//! `fairshare man`: the manual pages (roff), written by clap_mangen from the same command
//! tree that parses the command line: one page to standard output, or with `--out DIR` a
//! page per command (`fairshare.1`, `fairshare-plan.1`, `fairshare-plan-submit.1`, …).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use super::Context;

/// Print the manual page (roff), or write one page per command into a directory.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare man | man -l -\n  \
    fairshare man --out /usr/local/share/man/man1   # fairshare.1, fairshare-plan.1, fairshare-plan-submit.1, ...")]
pub struct Args {
    /// Write a page per command (and subcommand) into this directory instead of printing
    /// the top page.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl Args {
    pub fn run(self, _context: &Context) -> Result<()> {
        let command = crate::Cli::command();
        match self.out {
            None => clap_mangen::Man::new(command).render(&mut std::io::stdout()).context("cannot write the manual page"),
            Some(dir) => {
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let written = write_pages(&dir, command)?;
                eprintln!("{written} manual pages written to {}", dir.display());
                Ok(())
            }
        }
    }
}

/// Writes the page of `command` and of every visible subcommand below it; returns how many.
fn write_pages(dir: &Path, command: clap::Command) -> Result<usize> {
    let mut command = command;
    command.build(); // names subcommands "fairshare-plan" etc. and propagates global options
    let mut written = 0;
    let mut todo = vec![command];
    while let Some(command) = todo.pop() {
        let name = command.get_display_name().unwrap_or_else(|| command.get_name()).to_string();
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        clap_mangen::Man::new(command.clone()).render(&mut file).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        todo.extend(command.get_subcommands().filter(|sub| !sub.is_hide_set() && sub.get_name() != "help").cloned());
    }
    Ok(written)
}
