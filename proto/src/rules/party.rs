//! Parties that can receive money: providers, cashiers, municipalities, social partners.

use super::Context;
use crate::ids::{check_party, check_text, normalise_iban};
use crate::pb::{self, PartyKind, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{LedgerState, Party};

/// Any insurer may give a registered party a read identity (its own key), replacing the
/// party's earlier one. The key must be sound, not a key of genesis (one key, one role),
/// and not another party's reader.
pub fn register_reader(state: &mut LedgerState, context: &Context, body: &pb::ReaderRegistered) -> Result<(), Rejection> {
    check_party(&body.party)?;
    if !state.parties.contains_key(&body.party) {
        return reject(ReasonCode::UnknownParty, format!("party {} is not registered; register it first", body.party));
    }
    let key = match crate::genesis::check_public_key(&body.public_key) {
        Ok(key) => key,
        Err(problem) => return reject(ReasonCode::MalformedTransaction, format!("the read key of {} {problem}", body.party)),
    };
    if context.genesis.names_key(&key) {
        return reject(
            ReasonCode::AlreadyExists,
            format!("the read key of {} is a key of genesis; a party reads with a key of its own", body.party),
        );
    }
    let hex_key = hex::encode(key.as_bytes());
    match state.readers.get(&hex_key) {
        Some(party) if *party != body.party => {
            return reject(ReasonCode::AlreadyExists, format!("this key already reads for party {party}"));
        }
        _ => {}
    }
    state.readers.retain(|_, party| *party != body.party);
    state.readers.insert(hex_key, body.party.clone());
    Ok(())
}

/// Any insurer may register a party; an IBAN, when given, must pass mod-97.
pub fn register(state: &mut LedgerState, context: &Context, body: &pb::PartyRegistered) -> Result<(), Rejection> {
    check_party(&body.party)?;
    check_text(&body.name, "name")?;
    if body.name.trim().is_empty() {
        return reject(ReasonCode::Empty, format!("party {} needs a name", body.party));
    }
    let kind = match PartyKind::try_from(body.kind) {
        Ok(PartyKind::Provider) => "provider",
        Ok(PartyKind::Cashier) => "cashier",
        Ok(PartyKind::Municipality) => "municipality",
        Ok(PartyKind::SocialPartner) => "social_partner",
        _ => {
            return reject(
                ReasonCode::MalformedTransaction,
                format!("party {} has no kind (provider, cashier, municipality, social_partner)", body.party),
            )
        }
    };
    let iban = if body.iban.trim().is_empty() { None } else { Some(normalise_iban(&body.iban)?) };
    if state.parties.contains_key(&body.party) {
        return reject(ReasonCode::AlreadyExists, format!("party {} is already registered", body.party));
    }
    state.parties.insert(
        body.party.clone(),
        Party { id: body.party.clone(), kind: kind.to_string(), name: body.name.clone(), iban, registered_by: context.signer.to_string() },
    );
    Ok(())
}
