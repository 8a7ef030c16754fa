//! `fairshare`: the command-line client of a fairshare ledger.
//!
//! Parses the command line, runs one command from `cmd/`, and turns any error into one
//! line on stderr and exit code 1 (clap exits with 2 on usage errors).

use std::path::PathBuf;

use clap::Parser;

mod cmd;

#[derive(Parser)]
#[command(name = "fairshare", version, about = "The client of a fairshare ledger: IZA transformation funds, settled between insurers.")]
#[command(after_help = "Examples:\n  \
    fairshare devnet --demo                      # a local ledger of 4 insurer nodes, with a demo scenario\n  \
    fairshare --config devnet/client.toml status\n  \
    fairshare obligations --insurer zk --open\n  \
    fairshare --as vgz milestone confirm rav-nw-acute triage-desk\n\n\
    The client config is --config FILE, else $FAIRSHARE_CONFIG, else ./client.toml, else ./devnet/client.toml.")]
struct Cli {
    /// The client config (TOML): nodes and signing identities.
    #[arg(long, global = true, help_heading = "Global options", env = "FAIRSHARE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The identity that signs (an id of the client config, e.g. zk, vgz, vws).
    #[arg(long = "as", global = true, help_heading = "Global options", value_name = "ID")]
    identity: Option<String>,
    /// Talk to this node only, e.g. https://127.0.0.1:7101 (default: the first that answers).
    #[arg(long, global = true, help_heading = "Global options", value_name = "URL")]
    node: Option<String>,
    /// Sign with this secret key file instead of the config's (needs --as).
    #[arg(long, global = true, help_heading = "Global options", value_name = "FILE")]
    key: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// Plain text, no authentication: only for a ledger started with --insecure.
    #[arg(long, global = true, help_heading = "Global options")]
    insecure: bool,
    /// Let a query be answered from any node's state, even one that has not applied this
    /// client's latest acknowledged write yet (by default a node that is behind waits up to
    /// 2 s for it, else the next node is asked).
    #[arg(long, global = true, help_heading = "Global options")]
    any_state: bool,
    #[command(subcommand)]
    command: cmd::Command,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`fairshare export payments | head`) instead of panicking on a broken pipe. Not the
    // embedded node: a server must outlive a closed log pipe (Rust's runtime ignores
    // SIGPIPE, so a write to it fails instead of killing the process).
    if !matches!(cli.command, cmd::Command::Node(_)) {
        // SAFETY: signal() only sets this process's disposition; no thread of ours has
        // written to a pipe yet.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let mut context = cmd::Context::new(cli.config, cli.identity, cli.node, cli.key, cli.json, cli.insecure);
    context.any_state = cli.any_state;
    if let Err(error) = cli.command.run(&context).await {
        eprintln!("fairshare: {error:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every page of `fairshare --help` (and every subcommand's), with its path of names.
    fn pages() -> Vec<(String, clap::Command)> {
        let mut root = Cli::command();
        root.build(); // propagates the global options into every subcommand
        let mut pages = Vec::new();
        let mut todo = vec![("fairshare".to_string(), root)];
        while let Some((path, command)) = todo.pop() {
            for sub in command.get_subcommands() {
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                todo.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
            pages.push((path, command));
        }
        pages
    }

    #[test]
    fn every_argument_of_every_page_has_a_description() {
        let mut undescribed = Vec::new();
        for (path, command) in pages() {
            for argument in command.get_arguments() {
                let id = argument.get_id().as_str();
                if matches!(id, "help" | "version") || argument.is_hide_set() {
                    continue;
                }
                if argument.get_help().is_none() && argument.get_long_help().is_none() {
                    undescribed.push(format!("{path}: {id}"));
                }
            }
        }
        assert!(undescribed.is_empty(), "{} arguments have no description:\n{}", undescribed.len(), undescribed.join("\n"));
    }

    #[test]
    fn every_page_has_an_example() {
        let without: Vec<String> = pages()
            .into_iter()
            .filter(|(_, command)| {
                let text = |help: Option<&clap::builder::StyledStr>| help.map(|help| help.to_string()).unwrap_or_default();
                let after = text(command.get_after_help()) + &text(command.get_after_long_help());
                !after.contains("Example")
            })
            .map(|(path, _)| path)
            .collect();
        assert!(without.is_empty(), "{} pages have no example:\n{}", without.len(), without.join("\n"));
    }

    #[test]
    fn global_options_are_under_their_own_heading() {
        let command = Cli::command();
        let misplaced: Vec<&str> = command
            .get_arguments()
            .filter(|argument| argument.is_global_set() && argument.get_help_heading() != Some("Global options"))
            .map(|argument| argument.get_id().as_str())
            .collect();
        assert!(misplaced.is_empty(), "global options outside 'Global options': {misplaced:?}");
    }
}
