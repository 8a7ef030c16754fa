//! Distribution keys: versions per key group, proposed by an insurer, in force once every
//! insurer of genesis approved.

use std::collections::{BTreeMap, BTreeSet};

use super::Context;
use crate::amount::Ratio;
use crate::date::Date;
use crate::distribution_key::check_shares;
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{KeyVersion, LedgerState};

pub fn propose(state: &mut LedgerState, context: &Context, body: &pb::KeyProposed) -> Result<(), Rejection> {
    let proposer = context.insurer()?.to_string();
    let Some(versions) = state.keys.get(&body.key_group) else {
        return reject(ReasonCode::UnknownKey, format!("key group '{}' is not in genesis", body.key_group));
    };
    let next = versions.keys().next_back().copied().unwrap_or(0) + 1;
    if body.version != next {
        return reject(
            ReasonCode::KeyVersionOutOfOrder,
            format!("key group '{}' is at version {}; propose version {next}", body.key_group, next - 1),
        );
    }
    let valid_from = Date::parse(&body.valid_from, "valid_from")?;
    // One version per date: on every date exactly one version is in force, with no tie-break.
    if let Some(taken) = versions.values().find(|existing| existing.valid_from == valid_from) {
        return reject(
            ReasonCode::KeyValidFromTaken,
            format!(
                "version {} of key group '{}' already applies from {valid_from}; propose another valid_from date",
                taken.version, body.key_group
            ),
        );
    }
    let mut shares = BTreeMap::new();
    for share in &body.shares {
        if !context.genesis.is_insurer(&share.insurer) {
            return reject(ReasonCode::UnknownInsurer, format!("'{}' is not an insurer of genesis", share.insurer));
        }
        let ratio = Ratio::parse(&share.share, &format!("share of {}", share.insurer), ReasonCode::InvalidShare)?;
        if shares.insert(share.insurer.clone(), ratio).is_some() {
            return reject(ReasonCode::InvalidShare, format!("{} has two shares in one key", share.insurer));
        }
    }
    check_shares(&shares)?;
    let version = KeyVersion {
        version: body.version,
        valid_from,
        shares,
        proposed_by: proposer.clone(),
        approvals: BTreeSet::from([proposer]),
        in_force: false,
    };
    let group = state.keys.get_mut(&body.key_group).expect("checked above");
    group.insert(body.version, version);
    settle(group.get_mut(&body.version).expect("just inserted"), context);
    Ok(())
}

pub fn approve(state: &mut LedgerState, context: &Context, body: &pb::KeyApproved) -> Result<(), Rejection> {
    let insurer = context.insurer()?.to_string();
    let Some(version) = state.keys.get_mut(&body.key_group).and_then(|group| group.get_mut(&body.version)) else {
        return reject(ReasonCode::UnknownKey, format!("key group '{}' has no version {}", body.key_group, body.version));
    };
    if version.approvals.contains(&insurer) {
        return reject(
            ReasonCode::AlreadySigned,
            format!("{insurer} already approved version {} of key group '{}'", body.version, body.key_group),
        );
    }
    version.approvals.insert(insurer);
    settle(version, context);
    Ok(())
}

/// A version takes effect once every insurer in genesis has approved it.
fn settle(version: &mut KeyVersion, context: &Context) {
    version.in_force = context.genesis.insurers.iter().all(|insurer| version.approvals.contains(&insurer.id));
}
