//! The fair share: exact money splitting, in whole cents.
//!
//! Every node applies these rules and every auditor re-checks them, so they must give the
//! same cents everywhere, forever. Hence:
//!
//! - **Integers only.** Amounts are whole cents (`i64`), ratios are numerators over
//!   10^[`Ratio::SCALE_MAX`] (`i128`); every product and quotient is exact. No floats: a
//!   float rounds differently depending on the order of operations and cannot represent
//!   0.01, and a cent that differs between nodes is a fork.
//! - **Largest remainder.** Rounding each part on its own can create or lose a cent (three
//!   thirds of 1.00 each round to 0.33). Flooring every part and then handing out exactly
//!   the cents left over keeps the *conservation invariant*: the parts add up to the total,
//!   to the cent, always. No part is more than one cent away from its exact share.
//! - **Fixed tie-breaks.** When two parts have equal remainders the spare cent must go to the
//!   same party on every node and in every audit, so ties go to the earlier line, and among
//!   insurers to the lower insurer id (compared byte by byte): the ids come from the genesis,
//!   the one order all parties share, and byte order does not depend on a locale.
//! - **Always-on checks.** Each split asserts its own conservation invariant, also in release
//!   builds. The checks cost a handful of additions; a wrong cent certified by a quorum stays
//!   in the log forever, so stopping the node is the better failure.
//!
//! Callers validate their input (positive amounts, shares summing to exactly 1, distinct
//! insurer ids, fractions in (0, 1]) and turn violations into rejections; a violated
//! precondition here is a bug in the caller and panics with a message that names it.
//!
//! Bounds: amounts stay far below 10^11 cents (one billion euros) in practice, and at most
//! [`i64::MAX`] < 2^63 cents by type. A proportional part is `total × weight`, computed in
//! `i128` with checked multiplication; with a total below 2^63 and a weight of at most
//! 10^12 (a share) or at most 2^63 (a line amount in cents) the product is below 2^126, so
//! the check never fires for values the types allow, and the division that follows is exact.

use crate::amount::{Amount, Ratio};

/// 1 as a [`Ratio::scaled`] numerator: 10^[`Ratio::SCALE_MAX`].
const RATIO_ONE_SCALED: i128 = 10_i128.pow(Ratio::SCALE_MAX);

/// The payable total for a partially attained milestone: `amount × fraction`, rounded half-even
/// (banker's rounding) to the cent.
///
/// Half-even because it has no bias: over many payouts that end in exactly half a cent, as many
/// round down as up, so the fund neither systematically over- nor under-pays. The product is
/// exact in `i128` (cents × a numerator over 10^12), so the only rounding is this one.
///
/// Precondition checked by the caller: `0 < fraction <= 1`; panics otherwise.
pub fn payable_for_fraction(amount: Amount, fraction: Ratio) -> Amount {
    let numerator = fraction.scaled();
    assert!(
        numerator > 0 && numerator <= RATIO_ONE_SCALED,
        "payable_for_fraction: fraction {fraction} is outside (0, 1]; the caller must reject it first"
    );
    // |cents| < 2^63 and numerator <= 10^12 < 2^40: the product is below 2^103.
    let product = i128::from(amount.cents()).checked_mul(numerator).expect("payable_for_fraction: amount × fraction overflows i128");
    let cents = divide_half_even(product, RATIO_ONE_SCALED);
    // |amount × fraction| <= |amount|, so the rounded result still fits in i64 cents.
    Amount::from_cents(i64::try_from(cents).expect("amount × fraction never exceeds the amount"))
}

/// `numerator / denominator` rounded half-even, for `denominator > 0` and any sign of numerator.
fn divide_half_even(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    // Euclidean division floors for a positive denominator, so 0 <= remainder < denominator
    // and the exact quotient lies in [floor, floor + 1).
    let floor = numerator.div_euclid(denominator);
    let remainder = numerator.rem_euclid(denominator);
    // remainder < denominator (10^12 here), so doubling cannot overflow.
    match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => floor,
        std::cmp::Ordering::Greater => floor + 1,
        // Exactly half a cent: go to the even neighbour.
        std::cmp::Ordering::Equal => floor + floor.rem_euclid(2),
    }
}

/// Split `total_cents` over `weights` in proportion, by the largest-remainder method.
///
/// Each part first gets the floor, in whole cents, of its exact share
/// `total_cents × weight / Σ weights`; the cents left over (fewer than the number of parts) go
/// one each to the parts with the largest remainders, in order, ties to the lower index. The
/// caller chooses the order of `weights` so that "lower index" is the tie-break the rules
/// require. A part with weight 0 has remainder 0 and never receives a spare cent.
///
/// Exact in `i128`. Asserts, always, that no part is negative and that the parts add up to
/// `total_cents`.
///
/// Preconditions (panics otherwise): `total_cents >= 0`, every weight `>= 0`, Σ weights `> 0`
/// and representable in `i128`.
pub fn largest_remainder(total_cents: i64, weights: &[i128]) -> Vec<i64> {
    assert!(total_cents >= 0, "largest_remainder: total {total_cents} cents is negative; only amounts >= 0.00 are split");
    if let Some(index) = weights.iter().position(|&weight| weight < 0) {
        panic!("largest_remainder: weight {index} is negative ({})", weights[index]);
    }
    let weight_sum = weights
        .iter()
        .try_fold(0_i128, |sum, &weight| sum.checked_add(weight))
        .expect("largest_remainder: the sum of the weights overflows i128");
    assert!(weight_sum > 0, "largest_remainder: the weights sum to 0; there is nothing to split in proportion to");

    let total = i128::from(total_cents);
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (index, &weight) in weights.iter().enumerate() {
        // See the module doc for why this stays in i128 for every value the types allow.
        let scaled = total.checked_mul(weight).expect("largest_remainder: total × weight overflows i128");
        // Both operands are >= 0, so `/` is the floor and `%` the remainder of the exact share.
        parts.push(scaled / weight_sum);
        remainders.push((scaled % weight_sum, index));
    }

    // Σ floors <= Σ exact shares = total, and total − Σ floors = Σ remainders / Σ weights,
    // where every remainder is below Σ weights: fewer cents are left over than there are parts
    // with a positive remainder, so they are handed out only to those.
    let floors: i128 = parts.iter().sum();
    let leftover = usize::try_from(total - floors).expect("largest_remainder: the floors exceed the total");
    // Largest remainder first; equal remainders in index order. (remainder, index) pairs are
    // distinct, so the unstable sort gives one order on every node.
    remainders.sort_unstable_by(|(remainder_a, index_a), (remainder_b, index_b)| remainder_b.cmp(remainder_a).then(index_a.cmp(index_b)));
    for &(_, index) in remainders.iter().take(leftover) {
        parts[index] += 1;
    }

    let parts: Vec<i64> =
        parts.into_iter().map(|part| i64::try_from(part).expect("largest_remainder: a part never exceeds the total")).collect();
    assert!(parts.iter().all(|&part| part >= 0), "largest_remainder: a part is negative: {parts:?}");
    assert_eq!(
        parts.iter().map(|&part| i128::from(part)).sum::<i128>(),
        total,
        "largest_remainder: conservation broken, the parts {parts:?} do not add up to {total_cents} cents"
    );
    parts
}

/// Spread a milestone's payable total over its lines in proportion to the line amounts, by
/// largest remainder, ties to the earlier line.
///
/// The result is positional: part `i` belongs to line `i`, and a part may be 0.00. When
/// `payable` is at most the sum of the lines (as the rules require), no part exceeds its line:
/// a floor is at most the exact share, and a part that gets a spare cent had a fractional exact
/// share below the line amount, so the rounded-up cent still fits.
///
/// Preconditions (panics otherwise): `payable >= 0.00`, every line `>= 0.00`, lines sum `> 0.00`.
pub fn split_over_lines(payable: Amount, line_amounts: &[Amount]) -> Vec<Amount> {
    if let Some(index) = line_amounts.iter().position(|line| line.is_negative()) {
        panic!("split_over_lines: line {index} has a negative amount {}", line_amounts[index]);
    }
    let weights: Vec<i128> = line_amounts.iter().map(|line| i128::from(line.cents())).collect();
    let parts: Vec<Amount> = largest_remainder(payable.cents(), &weights).into_iter().map(Amount::from_cents).collect();

    assert!(parts.iter().all(|part| !part.is_negative()), "split_over_lines: a part is negative");
    assert_eq!(
        parts.iter().copied().sum::<Amount>(),
        payable,
        "split_over_lines: conservation broken, the line parts do not add up to the payable total"
    );
    parts
}

/// Spread one line's payable amount over the insurers of a distribution key, by largest
/// remainder in whole cents, ties to the lower insurer id.
///
/// `key` may come in any order: it is sorted by insurer id, byte by byte, first. That makes the
/// result independent of how a key was stated or stored, and gives every node and auditor the
/// same tie-break: the spare cent goes to the insurer with the lower genesis id. Returns
/// `(insurer, amount)` sorted by insurer id; an insurer whose part comes to 0.00 is left out,
/// since it owes nothing for this line. The amounts add up to `line_payable`, to the cent.
///
/// Preconditions (panics otherwise): `line_payable >= 0.00`, insurer ids distinct, every share
/// `> 0` and the shares summing to exactly 1.
pub fn split_over_insurers(line_payable: Amount, key: &[(String, Ratio)]) -> Vec<(String, Amount)> {
    let mut sorted: Vec<&(String, Ratio)> = key.iter().collect();
    // `str` orders by bytes; spelled out because the byte order is the rule, not a detail.
    sorted.sort_by(|(id_a, _), (id_b, _)| id_a.as_bytes().cmp(id_b.as_bytes()));
    for pair in sorted.windows(2) {
        assert!(pair[0].0 != pair[1].0, "split_over_insurers: insurer '{}' appears twice in the key", pair[0].0);
    }
    let weights: Vec<i128> = sorted
        .iter()
        .map(|(insurer, share)| {
            let scaled = share.scaled();
            assert!(scaled > 0, "split_over_insurers: insurer '{insurer}' has share {share}, not more than 0");
            scaled
        })
        .collect();
    // A malformed key (a huge share) must panic with a message, not wrap around to a sum of 1.
    let share_sum = weights
        .iter()
        .try_fold(0_i128, |sum, &weight| sum.checked_add(weight))
        .expect("split_over_insurers: the sum of the shares overflows i128");
    assert_eq!(share_sum, RATIO_ONE_SCALED, "split_over_insurers: the key's shares do not sum to exactly 1");

    let parts = largest_remainder(line_payable.cents(), &weights);
    let obligations: Vec<(String, Amount)> = sorted
        .iter()
        .zip(parts)
        .filter(|&(_, cents)| cents != 0)
        .map(|((insurer, _), cents)| (insurer.clone(), Amount::from_cents(cents)))
        .collect();

    assert!(
        obligations.iter().all(|(_, amount)| !amount.is_negative() && !amount.is_zero()),
        "split_over_insurers: an obligation is zero or negative"
    );
    assert_eq!(
        obligations.iter().map(|(_, amount)| *amount).sum::<Amount>(),
        line_payable,
        "split_over_insurers: conservation broken, the insurers' parts do not add up to the line"
    );
    obligations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::ReasonCode;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use rust_decimal::{Decimal, RoundingStrategy};

    fn amount(text: &str) -> Amount {
        text.parse().unwrap()
    }

    fn ratio(text: &str) -> Ratio {
        Ratio::parse(text, "share", ReasonCode::InvalidShare).unwrap()
    }

    fn key(entries: &[(&str, &str)]) -> Vec<(String, Ratio)> {
        entries.iter().map(|(id, share)| (id.to_string(), ratio(share))).collect()
    }

    fn obligations(entries: &[(&str, &str)]) -> Vec<(String, Amount)> {
        entries.iter().map(|(id, value)| (id.to_string(), amount(value))).collect()
    }

    #[test]
    fn equal_lines_give_the_spare_cent_to_the_earliest() {
        let lines = [amount("10.00"), amount("10.00"), amount("10.00")];
        assert_eq!(split_over_lines(amount("100.00"), &lines), vec![amount("33.34"), amount("33.33"), amount("33.33")]);
        assert_eq!(split_over_lines(amount("0.02"), &lines), vec![amount("0.01"), amount("0.01"), amount("0.00")]);
    }

    #[test]
    fn lines_split_in_proportion_and_never_exceed_their_amount() {
        // 75.00 of 150.00 over 100.00 and 50.00: exactly half of each.
        assert_eq!(split_over_lines(amount("75.00"), &[amount("100.00"), amount("50.00")]), vec![amount("50.00"), amount("25.00")]);
        // The whole amount payable: every line exactly its amount.
        let lines = [amount("0.01"), amount("333.33"), amount("0.07")];
        assert_eq!(split_over_lines(amount("333.41"), &lines), lines.to_vec());
        // 0.05 over lines of 0.01, 0.02 and 0.07: exact 0.005, 0.01, 0.035; floors 0.00, 0.01,
        // 0.03; the first and last line tie on half a cent and the earlier line gets it.
        assert_eq!(
            split_over_lines(amount("0.05"), &[amount("0.01"), amount("0.02"), amount("0.07")]),
            vec![amount("0.01"), amount("0.01"), amount("0.03")]
        );
    }

    #[test]
    fn largest_remainder_beats_position_and_ties_go_to_the_lower_index() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        // Exact 1.4, 2.6, 6.0: the larger remainder (index 1) wins over the lower index.
        assert_eq!(largest_remainder(10, &[14, 26, 60]), vec![1, 3, 6]);
        // A zero weight never gets a spare cent, even at the lowest index.
        assert_eq!(largest_remainder(1, &[0, 1, 1]), vec![0, 1, 0]);
        assert_eq!(largest_remainder(0, &[5, 7]), vec![0, 0]);
    }

    #[test]
    fn key_ties_go_to_the_lower_insurer_id_whatever_the_key_order() {
        let split = split_over_insurers(amount("0.03"), &key(&[("zorg-b", "0.5"), ("zorg-a", "0.5")]));
        assert_eq!(split, obligations(&[("zorg-a", "0.02"), ("zorg-b", "0.01")]));
        // Byte order, not numeric or locale order: "ins-10" < "ins-9" and "Z" < "a".
        let split = split_over_insurers(amount("0.05"), &key(&[("ins-9", "0.25"), ("a", "0.25"), ("Z", "0.25"), ("ins-10", "0.25")]));
        assert_eq!(split, obligations(&[("Z", "0.02"), ("a", "0.01"), ("ins-10", "0.01"), ("ins-9", "0.01")]));
    }

    #[test]
    fn zero_parts_are_omitted() {
        // Exact 0.004 and 0.006: the one cent goes to the larger remainder; "a" owes nothing.
        let split = split_over_insurers(amount("0.01"), &key(&[("a", "0.4"), ("b", "0.6")]));
        assert_eq!(split, obligations(&[("b", "0.01")]));
        assert_eq!(split_over_insurers(Amount::ZERO, &key(&[("a", "0.4"), ("b", "0.6")])), vec![]);
    }

    #[test]
    fn realistic_key_conserves_every_cent() {
        let key =
            key(&[("vgz", "0.254321987654"), ("zilveren-kruis", "0.298765432101"), ("cz", "0.211111111111"), ("menzis", "0.235801469134")]);
        // Exact shares of 1234567.89, in cents: cz 26063099.8999…, menzis 29111292.2207…,
        // vgz 31397775.9678…, zilveren-kruis 36884620.9113…. The floors leave 3 cents over;
        // they go to the three largest remainders (vgz, zilveren-kruis, cz), not to menzis.
        assert_eq!(
            split_over_insurers(amount("1234567.89"), &key),
            obligations(&[("cz", "260631.00"), ("menzis", "291112.92"), ("vgz", "313977.76"), ("zilveren-kruis", "368846.21"),])
        );
    }

    #[test]
    fn fractions_round_half_even_to_the_cent() {
        // 1000.01 × 0.75 = 750.0075 → 750.01.
        assert_eq!(payable_for_fraction(amount("1000.01"), ratio("0.75")), amount("750.01"));
        // Exactly half a cent goes to the even cent.
        assert_eq!(payable_for_fraction(amount("0.01"), ratio("0.5")), amount("0.00"));
        assert_eq!(payable_for_fraction(amount("0.03"), ratio("0.5")), amount("0.02"));
        assert_eq!(payable_for_fraction(amount("0.05"), ratio("0.5")), amount("0.02"));
        assert_eq!(payable_for_fraction(amount("0.07"), ratio("0.5")), amount("0.04"));
        // Above or below half rounds to the nearest.
        assert_eq!(payable_for_fraction(amount("0.01"), ratio("0.500000000001")), amount("0.01"));
        assert_eq!(payable_for_fraction(amount("0.03"), ratio("0.499999999999")), amount("0.01"));
        assert_eq!(payable_for_fraction(amount("999999999.99"), Ratio::ONE), amount("999999999.99"));
        assert_eq!(payable_for_fraction(amount("1.00"), ratio("0.000000000001")), amount("0.00"));
    }

    #[test]
    #[should_panic(expected = "outside (0, 1]")]
    fn a_fraction_above_one_is_a_caller_bug() {
        payable_for_fraction(amount("1.00"), ratio("1.01"));
    }

    #[test]
    #[should_panic(expected = "do not sum to exactly 1")]
    fn a_key_not_summing_to_one_is_a_caller_bug() {
        split_over_insurers(amount("1.00"), &key(&[("a", "0.5"), ("b", "0.499999999999")]));
    }

    #[test]
    #[should_panic(expected = "appears twice")]
    fn a_duplicate_insurer_is_a_caller_bug() {
        split_over_insurers(amount("1.00"), &key(&[("a", "0.5"), ("a", "0.5")]));
    }

    #[test]
    #[should_panic(expected = "weights sum to 0")]
    fn zero_weights_are_a_caller_bug() {
        largest_remainder(5, &[0, 0]);
    }

    /// How a milestone's payable total is stated.
    #[derive(Debug, Clone)]
    enum Payout {
        /// Partial attainment: amount × fraction.
        Fraction(Ratio),
        /// Payment on actual costs: `1 + seed mod amount` cents, so always in (0, amount].
        Actual(i64),
    }

    /// A key of 2–12 insurers with distinct ids, in random order, whose shares are positive
    /// integers over 10^k (k in 2..=12) summing to exactly 10^k: random cut points of [0, 10^k].
    fn key_strategy() -> impl Strategy<Value = Vec<(String, Ratio)>> {
        (2_usize..=12, 2_u32..=12).prop_flat_map(|(insurers, decimals)| {
            let denominator = 10_i64.pow(decimals);
            (proptest::collection::btree_set(1..denominator, insurers - 1), proptest::collection::btree_set("[A-Za-z0-9-]{1,6}", insurers))
                .prop_flat_map(move |(cuts, ids)| {
                    let bounds: Vec<i64> = std::iter::once(0).chain(cuts).chain(std::iter::once(denominator)).collect();
                    let key: Vec<(String, Ratio)> = ids
                        .into_iter()
                        .zip(bounds.windows(2))
                        .map(|(id, bound)| {
                            let share = Decimal::new(bound[1] - bound[0], decimals);
                            (id, Ratio::new(share, "share", ReasonCode::InvalidShare).unwrap())
                        })
                        .collect();
                    Just(key).prop_shuffle()
                })
        })
    }

    /// Fractions in (0, 1]: n / 10^d with d in 0..=12 and n in 1..=10^d (d = 0 gives exactly 1).
    fn fraction_strategy() -> impl Strategy<Value = Ratio> {
        (0_u32..=12).prop_flat_map(|decimals| {
            (1..=10_i64.pow(decimals))
                .prop_map(move |numerator| Ratio::new(Decimal::new(numerator, decimals), "fraction", ReasonCode::InvalidFraction).unwrap())
        })
    }

    /// Line amounts from 0.01 to 1,000,000,000.00; small ones often, so that zero parts occur.
    fn line_strategy() -> impl Strategy<Value = Amount> {
        prop_oneof![1_i64..=1_000, 1_i64..=100_000_000_000].prop_map(Amount::from_cents)
    }

    fn payout_strategy() -> impl Strategy<Value = Payout> {
        prop_oneof![fraction_strategy().prop_map(Payout::Fraction), any::<i64>().prop_map(Payout::Actual)]
    }

    /// 1–20 weights, many of them 0 or tiny (so remainders tie), at least one positive.
    fn weights_strategy() -> impl Strategy<Value = Vec<i128>> {
        let weight = || prop_oneof![0_i128..=3, 0_i128..=1_000_000_000_000];
        (proptest::collection::vec(weight(), 0..=19), 1_i128..=1_000_000_000_000, any::<prop::sample::Index>()).prop_map(
            |(mut weights, positive, index)| {
                weights.insert(index.index(weights.len() + 1), positive);
                weights
            },
        )
    }

    fn config() -> ProptestConfig {
        // Failing cases are saved to proptest-regressions/fair_share.txt and committed, so a
        // found counterexample is replayed by every later run.
        ProptestConfig {
            failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel("proptest-regressions"))),
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_line_conserves_every_cent(
            lines in proptest::collection::vec(line_strategy(), 1..=8),
            payout in payout_strategy(),
            key in key_strategy(),
        ) {
            let total: Amount = lines.iter().copied().sum();
            let payable = match payout {
                Payout::Fraction(fraction) => payable_for_fraction(total, fraction),
                Payout::Actual(seed) => Amount::from_cents(1 + seed.rem_euclid(total.cents())),
            };
            prop_assert!(!payable.is_negative() && payable <= total);

            let line_payables = split_over_lines(payable, &lines);
            prop_assert_eq!(line_payables.len(), lines.len());
            prop_assert_eq!(line_payables.iter().copied().sum::<Amount>(), payable);
            for (part, line) in line_payables.iter().zip(&lines) {
                prop_assert!(!part.is_negative() && part <= line, "part {} of line {}", part, line);
            }
            prop_assert_eq!(split_over_lines(payable, &lines), line_payables.clone());

            let mut reversed_key = key.clone();
            reversed_key.reverse();
            for line_payable in line_payables {
                let split = split_over_insurers(line_payable, &key);
                prop_assert_eq!(split.iter().map(|(_, amount)| *amount).sum::<Amount>(), line_payable);
                prop_assert!(split.iter().all(|(_, amount)| !amount.is_negative() && !amount.is_zero()));
                prop_assert!(split.windows(2).all(|pair| pair[0].0.as_bytes() < pair[1].0.as_bytes()));
                for (insurer, part) in &split {
                    let share = key.iter().find(|(id, _)| id == insurer).map(|(_, share)| *share);
                    prop_assert!(share.is_some(), "unknown insurer {}", insurer);
                    // Within one cent of the exact share: the floor or the floor plus one.
                    let exact = i128::from(line_payable.cents()) * share.unwrap().scaled();
                    let floor = exact / RATIO_ONE_SCALED;
                    let cents = i128::from(part.cents());
                    prop_assert!(cents == floor || cents == floor + 1);
                }
                prop_assert_eq!(&split_over_insurers(line_payable, &key), &split);
                prop_assert_eq!(&split_over_insurers(line_payable, &reversed_key), &split);
            }
        }

        #[test]
        fn fractions_match_decimal_half_even(
            cents in prop_oneof![1_i64..=1_000, 1_i64..=100_000_000_000],
            fraction in fraction_strategy(),
        ) {
            let total = Amount::from_cents(cents);
            let payable = payable_for_fraction(total, fraction);
            // An independent computation: rust_decimal's exact product, rounded half-even.
            let expected = (total.value() * fraction.value())
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
            prop_assert_eq!(payable.value(), expected);
            prop_assert!(!payable.is_negative() && payable <= total);
        }

        /// The characterisation of largest remainder: every part is its floor or floor + 1, and a
        /// part gets the spare cent only if its remainder is positive and ranks above every part
        /// that does not (larger remainder, or equal remainder and lower index).
        #[test]
        fn largest_remainder_hands_spare_cents_by_rank(
            total in 0_i64..=100_000_000_000,
            weights in weights_strategy(),
        ) {
            let parts = largest_remainder(total, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            let weight_sum: i128 = weights.iter().sum();
            let ranked: Vec<(i128, bool)> = weights
                .iter()
                .zip(&parts)
                .map(|(&weight, &part)| {
                    let exact = i128::from(total) * weight;
                    let extra = i128::from(part) - exact / weight_sum;
                    (exact % weight_sum, extra == 1)
                })
                .collect();
            for (index, &(remainder, got_extra)) in ranked.iter().enumerate() {
                let part = parts[index];
                prop_assert!(part >= 0);
                prop_assert!(i128::from(part) - i128::from(total) * weights[index] / weight_sum <= 1);
                if got_extra {
                    prop_assert!(remainder > 0);
                    for (other, &(other_remainder, other_extra)) in ranked.iter().enumerate() {
                        if !other_extra {
                            prop_assert!(
                                remainder > other_remainder || (remainder == other_remainder && index < other)
                            );
                        }
                    }
                }
            }
        }
    }
}
