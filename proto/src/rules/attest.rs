//! A regulator's attestation: "I verified this ledger up to this certified checkpoint".

use super::Context;
use crate::ids::check_text;
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::LedgerState;

pub fn attest(state: &mut LedgerState, context: &Context, body: &pb::AuditAttested) -> Result<(), Rejection> {
    check_text(&body.note, "note")?;
    let Some(checkpoint) = &body.checkpoint else {
        return reject(ReasonCode::MalformedTransaction, "an attestation names the checkpoint it verified");
    };
    if !context.certified(checkpoint) {
        return reject(
            ReasonCode::UnknownCheckpoint,
            format!("no certified checkpoint of size {} has that root and digest; attest only what a quorum certified", checkpoint.size),
        );
    }
    if let Some((size, _, _)) = state.attestations.get(context.signer) {
        if *size >= checkpoint.size {
            return reject(
                ReasonCode::AlreadySigned,
                format!("{} already attested size {size}; attest a later checkpoint", context.signer),
            );
        }
    }
    state.attestations.insert(context.signer.to_string(), (checkpoint.size, hex::encode(&checkpoint.root), context.index));
    Ok(())
}
