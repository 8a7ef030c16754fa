//! Identifiers of the business: parties (AGB / KvK), slugs, IBANs.

use std::borrow::Cow;

use crate::pb::ReasonCode;
use crate::rejection::Rejection;
use crate::TEXT_BYTES_MAX;

/// The longest id a node accepts in a query or a stream request. The longest real one is
/// an obligation id, `plan/milestone/line/insurer`: three slugs, a line number, three '/'.
pub const ID_BYTES_MAX: usize = 256;
const SLUG_BYTES_MAX: usize = 64;
const _: () = assert!(3 * SLUG_BYTES_MAX + 3 + 20 <= ID_BYTES_MAX, "an obligation id must fit");
/// How much of someone's input an error message quotes.
pub const ECHO_CHARS_MAX: usize = 64;

/// `input` as an error message may quote it: whole when short, else its first
/// [`ECHO_CHARS_MAX`] characters and its length, so an error does not grow with its input
/// (a 1 MB id sent in a query does not come back inside the answer).
pub fn echo(input: &str) -> Cow<'_, str> {
    match input.char_indices().nth(ECHO_CHARS_MAX) {
        None => Cow::Borrowed(input),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &input[..cut], input.len())),
    }
}

/// "agb:01234567" (an 8-digit Dutch provider code) or "kvk:12345678" (Chamber of Commerce).
pub fn check_party(party: &str) -> Result<(), Rejection> {
    let valid = match party.split_once(':') {
        Some(("agb", digits)) | Some(("kvk", digits)) => digits.len() == 8 && digits.bytes().all(|byte| byte.is_ascii_digit()),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(Rejection::new(
            ReasonCode::InvalidIdentifier,
            format!("party '{party}' is not 'agb:' or 'kvk:' followed by 8 digits, e.g. agb:01234567"),
        ))
    }
}

/// Plan, milestone, addendum, payment and theme ids: 1–64 of [a-z0-9-_.], starting alphanumeric.
pub fn check_slug(slug: &str, what: &str) -> Result<(), Rejection> {
    let bytes = slug.as_bytes();
    let valid = (1..=SLUG_BYTES_MAX).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(Rejection::new(
            ReasonCode::InvalidIdentifier,
            format!("{what} '{slug}' must be 1–64 lowercase letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// Names, notes and reasons are bounded.
pub fn check_text(text: &str, what: &str) -> Result<(), Rejection> {
    if text.len() > TEXT_BYTES_MAX {
        return Err(Rejection::new(
            ReasonCode::LimitExceeded,
            format!("{what} is {} bytes; at most {TEXT_BYTES_MAX} are allowed", text.len()),
        ));
    }
    Ok(())
}

/// ISO 13616: country code, two check digits, up to 30 alphanumerics; mod 97 of the
/// rearranged number must be 1. Spaces are allowed in input; the stored form has none.
pub fn normalise_iban(iban: &str) -> Result<String, Rejection> {
    let compact: String = iban.chars().filter(|character| !character.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let bad = |why: &str| Rejection::new(ReasonCode::InvalidIban, format!("IBAN '{iban}' {why}"));
    let bytes = compact.as_bytes();
    if !(15..=34).contains(&bytes.len()) {
        return Err(bad("has the wrong length"));
    }
    if !bytes[..2].iter().all(u8::is_ascii_uppercase) || !bytes[2..4].iter().all(u8::is_ascii_digit) {
        return Err(bad("must start with a country code and two check digits"));
    }
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return Err(bad("may hold only letters and digits"));
    }
    let mut remainder: u32 = 0;
    for &byte in bytes[4..].iter().chain(&bytes[..4]) {
        let value = if byte.is_ascii_digit() { u32::from(byte - b'0') } else { u32::from(byte - b'A') + 10 };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    if remainder != 1 {
        return Err(bad("has a wrong check digit (ISO 13616 mod-97); check it for a typing error"));
    }
    Ok(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_quotes_short_input_whole_and_long_input_bounded() {
        assert_eq!(echo("zk"), "zk");
        let exact = "a".repeat(ECHO_CHARS_MAX);
        assert_eq!(echo(&exact), exact.as_str());
        let long = "é".repeat(1_000_000);
        let echoed = echo(&long);
        assert!(echoed.starts_with(&"é".repeat(ECHO_CHARS_MAX)), "{echoed}");
        assert!(echoed.ends_with("… (2000000 bytes)"), "{echoed}");
        assert!(echoed.len() < 200);
    }

    #[test]
    fn ibans_are_checked_mod_97() {
        assert_eq!(normalise_iban("NL91 ABNA 0417 1643 00").unwrap(), "NL91ABNA0417164300");
        assert_eq!(normalise_iban("GB82WEST12345698765432").unwrap(), "GB82WEST12345698765432");
        assert_eq!(normalise_iban("NL92ABNA0417164300").unwrap_err().code, ReasonCode::InvalidIban);
        assert_eq!(normalise_iban("NL91").unwrap_err().code, ReasonCode::InvalidIban);
        assert_eq!(normalise_iban("NL91ABNA04171643$0").unwrap_err().code, ReasonCode::InvalidIban);
    }

    #[test]
    fn parties_and_slugs() {
        assert!(check_party("agb:01234567").is_ok());
        assert!(check_party("kvk:12345678").is_ok());
        for bad in ["agb:1234567", "AGB:01234567", "abc:01234567", "kvk:1234567x", "01234567"] {
            assert!(check_party(bad).is_err(), "{bad}");
        }
        assert!(check_slug("rav-acute-2026", "plan").is_ok());
        assert!(check_slug("", "plan").is_err());
        assert!(check_slug("-x", "plan").is_err());
        assert!(check_slug("Plan", "plan").is_err());
    }
}
