//! `fairshare party register|reader|list`: parties that receive money (providers, cashiers, …).

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::action::Action;
use fairshare_client::table::Table;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::state::Party;

use super::{input, Context};

/// Parties that can receive money: register one, or list them.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as zk party register agb:06011234 --name \"Spaarne Gasthuis\" --kind provider\n  fairshare party list"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Register a provider, cashier, municipality or social partner (any insurer may).
    #[command(after_help = "Examples:\n  \
        fairshare party register agb:06011234 --name \"Spaarne Gasthuis\" --kind provider\n  \
        fairshare party register kvk:34112233 --name \"Regiokassier ROAZ Noordwest\" --kind cashier --iban NL91ABNA0417164300")]
    Register {
        /// agb:01234567 (AGB code) or kvk:12345678 (KvK number, for parties without an AGB code).
        #[arg(value_name = "AGB_OR_KVK")]
        party: String,
        /// The party's name, as on its bank account.
        #[arg(long)]
        name: String,
        /// provider | cashier | municipality | social_partner
        #[arg(long)]
        kind: String,
        /// Where payments go; checked (ISO 13616 mod-97) before it is signed.
        #[arg(long)]
        iban: Option<String>,
    },
    /// Give a registered party a read identity: its own key, with which it reads what is owed
    /// and paid to it, and nothing else (any insurer may; a new key replaces the old one).
    #[command(after_help = "Examples:\n  \
        fairshare keygen --out spaarne-reader.key      # by the party; it sends the public key\n  \
        fairshare --as zk party reader agb:06011234 --public-key 3f4c6a7f…\n\n\
        The party then connects with a client config whose identity uses that key file.")]
    Reader {
        /// The registered party: agb:01234567 or kvk:12345678.
        #[arg(value_name = "AGB_OR_KVK")]
        party: String,
        /// The party's ed25519 public key, 64 hex digits (printed by 'fairshare keygen').
        #[arg(long, value_name = "HEX")]
        public_key: String,
    },
    /// List the registered parties.
    #[command(after_help = "Example:\n  fairshare party list --json")]
    List,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self.command {
            Command::Register { party, name, kind, iban } => {
                let action = Action::PartyRegister { party, name, party_kind: kind, iban };
                context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
            }
            Command::Reader { party, public_key } => {
                let bytes = hex::decode(public_key.trim())
                    .map_err(|_| anyhow::anyhow!("--public-key '{}' is not hex", fairshare_protocol::ids::echo(&public_key)))?;
                // The protocol's own check, before anything is signed.
                fairshare_protocol::genesis::check_public_key(&bytes).map_err(|problem| anyhow::anyhow!("--public-key {problem}"))?;
                fairshare_protocol::ids::check_party(&party).map_err(|rejection| anyhow::anyhow!("{}", rejection.message))?;
                context.submit(Kind::ReaderRegistered(pb::ReaderRegistered { party, public_key: bytes })).await
            }
            Command::List => {
                let parties: Vec<Party> = context.query(Query::Parties(Empty {})).await?;
                if context.json {
                    return context.print_json(&parties);
                }
                let mut table = Table::new(&["party", "kind", "name", "iban", "registered by"]);
                for party in &parties {
                    table.row(vec![
                        party.id.clone(),
                        party.kind.clone(),
                        party.name.clone(),
                        party.iban.clone().unwrap_or_default(),
                        party.registered_by.clone(),
                    ]);
                }
                print!("{}", table.render());
                Ok(())
            }
        }
    }
}
