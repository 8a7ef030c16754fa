//! Membership on the ledger (DESIGN.md decision 11): approvals of a change to an insurer's
//! node by more than two thirds of the insurers, and the leader's record that it executed
//! one, once. The Raft membership change itself is the node's (its Admin service); these
//! rules make who decided it, and when it was done, part of the signed history.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Context;
use crate::genesis::{Genesis, Role};
use crate::ids::{check_slug, check_text};
use crate::pb::{self, MembershipChange, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{LeafIndex, LedgerState};

/// A proposed change to one insurer's node and who approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipProposal {
    /// The insurer whose node changes.
    pub node: String,
    /// "remove", "add_learner" or "promote".
    pub change: String,
    /// The node's URL for "add_learner"; empty otherwise.
    pub address: String,
    /// Insurers that approved it, each once.
    pub approvers: BTreeSet<String>,
    /// The leaf at which the leader recorded executing it, and the leader's insurer.
    pub executed: Option<(LeafIndex, String)>,
}

impl MembershipProposal {
    /// Approved by more than two thirds of the insurers.
    pub fn approved(&self, genesis: &Genesis) -> bool {
        self.approvers.len() >= genesis.quorum()
    }
}

/// The name a change has in proposals and in the Admin service.
pub fn change_name(change: MembershipChange) -> Option<&'static str> {
    match change {
        MembershipChange::Remove => Some("remove"),
        MembershipChange::AddLearner => Some("add_learner"),
        MembershipChange::Promote => Some("promote"),
        MembershipChange::Unspecified => None,
    }
}

/// Each insurer approves a proposal once; all approvals of a proposal name the same change,
/// and an executed proposal takes no more.
pub fn approve(state: &mut LedgerState, context: &Context, body: &pb::MembershipApproved) -> Result<(), Rejection> {
    let insurer = context.insurer()?.to_string();
    check_slug(&body.proposal, "proposal")?;
    check_text(&body.address, "address")?;
    if !context.genesis.is_insurer(&body.node) {
        return reject(ReasonCode::UnknownInsurer, format!("'{}' is not an insurer of genesis, so it runs no node", body.node));
    }
    let Some(change) = MembershipChange::try_from(body.change).ok().and_then(change_name) else {
        return reject(ReasonCode::MalformedTransaction, "the change must be remove, add_learner or promote");
    };
    let needs_address = change == "add_learner";
    let url = body.address.starts_with("https://") || body.address.starts_with("http://");
    if needs_address != url {
        return reject(
            ReasonCode::MalformedTransaction,
            if needs_address { "add_learner needs the node's URL as address" } else { "only add_learner names an address" },
        );
    }
    let proposal = state.membership.get_or_insert_with(body.proposal.clone(), || MembershipProposal {
        node: body.node.clone(),
        change: change.to_string(),
        address: body.address.clone(),
        approvers: BTreeSet::new(),
        executed: None,
    });
    if proposal.node != body.node || proposal.change != change || proposal.address != body.address {
        return reject(
            ReasonCode::AlreadyExists,
            format!(
                "proposal {} is to {} {}'s node{}; approve it as it is, or name a new proposal",
                body.proposal,
                proposal.change,
                proposal.node,
                if proposal.address.is_empty() { String::new() } else { format!(" at {}", proposal.address) }
            ),
        );
    }
    if proposal.executed.is_some() {
        return reject(ReasonCode::AlreadyExists, format!("proposal {} was executed already", body.proposal));
    }
    if !proposal.approvers.insert(insurer.clone()) {
        return reject(ReasonCode::AlreadyExists, format!("{insurer} approved proposal {} already", body.proposal));
    }
    Ok(())
}

/// The leader's node records executing an approved proposal, once.
pub fn execute(state: &mut LedgerState, context: &Context, body: &pb::MembershipExecuted) -> Result<(), Rejection> {
    let Role::Node(leader) = context.role else {
        return reject(ReasonCode::SignerNotAuthorised, format!("'{}' is not a node", context.signer));
    };
    let Some(proposal) = state.membership.get_mut(&body.proposal) else {
        return reject(ReasonCode::UnknownProposal, format!("there is no membership proposal '{}'", crate::ids::echo(&body.proposal)));
    };
    if !proposal.approved(context.genesis) {
        return reject(
            ReasonCode::ProposalNotApproved,
            format!(
                "proposal {} has {} of the {} approvals it needs (more than two thirds of the insurers)",
                body.proposal,
                proposal.approvers.len(),
                context.genesis.quorum()
            ),
        );
    }
    if let Some((index, by)) = &proposal.executed {
        return reject(ReasonCode::AlreadyExists, format!("proposal {} was executed already, by node {by} at leaf {index}", body.proposal));
    }
    proposal.executed = Some((context.index, leader.clone()));
    Ok(())
}
