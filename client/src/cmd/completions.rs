//! `fairshare completions SHELL`: a shell completion script, written by clap_complete from
//! the same command tree that parses the command line, so it cannot drift from it.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Context;

/// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare completions bash > ~/.local/share/bash-completion/completions/fairshare\n  \
    fairshare completions zsh > ~/.zfunc/_fairshare     # with fpath+=~/.zfunc before compinit\n  \
    fairshare completions fish > ~/.config/fish/completions/fairshare.fish")]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

impl Args {
    pub fn run(self, _context: &Context) -> Result<()> {
        let mut command = crate::Cli::command();
        clap_complete::generate(self.shell, &mut command, "fairshare", &mut std::io::stdout());
        Ok(())
    }
}
