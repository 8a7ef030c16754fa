//! What makes a distribution key valid, wherever it comes from: an initial key in genesis
//! or a version proposed on the ledger (`KeyProposed`).
//!
//! This is a property of the key itself, not of either path: the fair-share split
//! (`fair_share`) conserves money to the cent only because the shares it splits by are
//! positive and sum to exactly 1. It lives here, beside neither genesis nor the rules, so
//! that genesis checks do not depend on transaction rules (nor the reverse) and both paths
//! apply the one definition.

use std::collections::BTreeMap;

use crate::amount::Ratio;
use crate::pb::ReasonCode;
use crate::rejection::{reject, Rejection};

/// Shares are each > 0 and sum to exactly 1 (no tolerance: exact decimals).
pub fn check_shares(shares: &BTreeMap<String, Ratio>) -> Result<(), Rejection> {
    if shares.is_empty() {
        return reject(ReasonCode::Empty, "a distribution key needs at least one share");
    }
    for (insurer, share) in shares {
        if share.scaled() <= 0 {
            return reject(ReasonCode::InvalidShare, format!("the share of {insurer} is {share}; every share must be more than 0"));
        }
    }
    let total: i128 = shares.values().map(|share| share.scaled()).sum();
    if total != Ratio::ONE.scaled() {
        let total = rust_decimal::Decimal::from_i128_with_scale(total, Ratio::SCALE_MAX).normalize();
        return reject(ReasonCode::SharesDoNotSumToOne, format!("the shares sum to {total}, not exactly 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(shares: &[(&str, &str)]) -> BTreeMap<String, Ratio> {
        shares
            .iter()
            .map(|(insurer, share)| (insurer.to_string(), Ratio::parse(share, "share", ReasonCode::InvalidShare).unwrap()))
            .collect()
    }

    #[test]
    fn shares_must_be_positive_and_sum_to_exactly_one() {
        assert!(check_shares(&key(&[("zk", "0.6"), ("vgz", "0.4")])).is_ok());
        assert_eq!(check_shares(&key(&[])).unwrap_err().code, ReasonCode::Empty);
        assert_eq!(check_shares(&key(&[("zk", "1"), ("vgz", "0")])).unwrap_err().code, ReasonCode::InvalidShare);
        let off = check_shares(&key(&[("zk", "0.6"), ("vgz", "0.3999999999")])).unwrap_err();
        assert_eq!(off.code, ReasonCode::SharesDoNotSumToOne);
        assert!(off.message.contains("0.9999999999"), "{}", off.message);
    }
}
