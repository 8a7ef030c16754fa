//! SEPA credit-transfer initiation files (ISO 20022 `pain.001.001.09`) for an insurer's
//! treasury: one transfer per payee, the obligation ids it settles in the remittance
//! information. Written by hand (no XML crate): the document is small and fixed, and every
//! text is escaped.

use std::collections::BTreeMap;

use fairshare_protocol::date::Date;
use fairshare_protocol::ids::normalise_iban;
use fairshare_protocol::Amount;

use crate::views::ObligationRow;
use crate::InputError;

/// The namespace of the message.
pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";
/// Max35Text (MsgId, PmtInfId, EndToEndId).
const MAX_ID: usize = 35;
/// Max140Text (names, one unstructured remittance line).
const MAX_TEXT: usize = 140;

/// The paying side of the file, as given on the command line.
#[derive(Debug, Clone)]
pub struct Debtor {
    pub name: String,
    pub iban: String,
}

/// A payee to be paid: name and IBAN from the party register.
#[derive(Debug, Clone)]
pub struct Payee {
    pub name: String,
    pub iban: Option<String>,
}

/// One transfer: everything outstanding to one payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub payee: String,
    pub name: String,
    pub iban: String,
    pub amount: Amount,
    pub obligations: Vec<String>,
}

/// A payee left out of the file because no IBAN is registered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub payee: String,
    pub name: String,
    pub amount: Amount,
    pub obligations: Vec<String>,
}

/// The transfers (payees with an IBAN) and the payees skipped, both in payee order.
pub fn transfers(obligations: &[ObligationRow], payees: &BTreeMap<String, Payee>) -> (Vec<Transfer>, Vec<Skipped>) {
    let mut grouped: BTreeMap<&str, (Amount, Vec<String>)> = BTreeMap::new();
    for obligation in obligations.iter().filter(|obligation| obligation.outstanding.cents() > 0) {
        let entry = grouped.entry(&obligation.payee).or_insert_with(|| (Amount::from_cents(0), Vec::new()));
        entry.0 += obligation.outstanding;
        entry.1.push(obligation.id.clone());
    }
    let (mut transfers, mut skipped) = (Vec::new(), Vec::new());
    for (payee, (amount, obligations)) in grouped {
        let known = payees.get(payee);
        let name = known.map(|party| party.name.clone()).unwrap_or_else(|| payee.to_string());
        match known.and_then(|party| party.iban.clone()).filter(|iban| !iban.is_empty()) {
            Some(iban) => transfers.push(Transfer { payee: payee.to_string(), name, iban, amount, obligations }),
            None => skipped.push(Skipped { payee: payee.to_string(), name, amount, obligations }),
        }
    }
    (transfers, skipped)
}

/// The remittance line: "fairshare obligations A, B, C", at most 140 characters; ids that
/// do not fit are counted ("… (+3 more)").
pub fn remittance(obligations: &[String]) -> String {
    let prefix = if obligations.len() == 1 { "fairshare obligation " } else { "fairshare obligations " };
    let full = format!("{prefix}{}", obligations.join(", "));
    if full.chars().count() <= MAX_TEXT {
        return full;
    }
    // The longest prefix of ids that fits together with the count of those left out.
    for shown in (0..obligations.len()).rev() {
        let rest = obligations.len() - shown;
        let text = if shown == 0 {
            format!("{prefix}({rest} ids, see the export)")
        } else {
            format!("{prefix}{} (+{rest} more)", obligations[..shown].join(", "))
        };
        if text.chars().count() <= MAX_TEXT {
            return text;
        }
    }
    truncate(&full, MAX_TEXT)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Escapes the five XML special characters.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The file's header data, checked.
#[derive(Debug, Clone)]
pub struct Header {
    /// MsgId (also the PmtInfId and the stem of each EndToEndId); at most 35 characters.
    pub message_id: String,
    /// CreDtTm, an ISO date-time such as 2026-07-15T09:30:00Z.
    pub created: String,
    /// ReqdExctnDt/Dt.
    pub execution_date: Date,
    pub debtor: Debtor,
}

impl Header {
    /// Checks the command-line inputs: the IBAN (mod 97), the date, the id's length.
    pub fn new(
        message_id: &str,
        created: String,
        execution_date: &str,
        debtor_name: &str,
        debtor_iban: &str,
    ) -> Result<Header, InputError> {
        let iban = normalise_iban(debtor_iban).map_err(|rejection| InputError::new("--debtor-iban", rejection.message))?;
        let execution_date =
            Date::parse(execution_date, "execution date").map_err(|rejection| InputError::new("--execution-date", rejection.message))?;
        let message_id = message_id.trim();
        if message_id.is_empty() || message_id.chars().count() > MAX_ID {
            return Err(InputError::new("--msg-id", format!("'{message_id}' must have 1 to {MAX_ID} characters")));
        }
        let name = debtor_name.trim();
        if name.is_empty() {
            return Err(InputError::new("--debtor-name", "must not be empty"));
        }
        Ok(Header { message_id: message_id.to_string(), created, execution_date, debtor: Debtor { name: truncate(name, MAX_TEXT), iban } })
    }
}

/// The payees of the party register, by party id.
pub fn payees(parties: BTreeMap<String, fairshare_protocol::state::Party>) -> BTreeMap<String, Payee> {
    parties.into_iter().map(|(id, party)| (id, Payee { name: party.name, iban: party.iban })).collect()
}

/// Now as CreDtTm (the one clock read of a payment file); `None` before 1970.
pub fn now() -> Option<String> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(iso_datetime(since.as_secs()))
}

/// The default message id: `FS-INSURER-YYYYMMDDHHMMSS`, cut at 35 characters.
pub fn default_message_id(insurer: &str, created: &str) -> String {
    let stamp: String = created.chars().filter(char::is_ascii_digit).collect();
    format!("FS-{insurer}-{stamp}").chars().take(MAX_ID).collect()
}

/// The pain.001.001.09 document for `transfers` (at least one).
pub fn document(header: &Header, transfers: &[Transfer]) -> String {
    let total: Amount = transfers.iter().map(|transfer| transfer.amount).sum();
    let count = transfers.len();
    let id = escape(&header.message_id);
    let debtor = escape(&header.debtor.name);
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!("<Document xmlns=\"{NAMESPACE}\">\n"));
    xml.push_str("  <CstmrCdtTrfInitn>\n");
    xml.push_str("    <GrpHdr>\n");
    xml.push_str(&format!("      <MsgId>{id}</MsgId>\n"));
    xml.push_str(&format!("      <CreDtTm>{}</CreDtTm>\n", escape(&header.created)));
    xml.push_str(&format!("      <NbOfTxs>{count}</NbOfTxs>\n"));
    xml.push_str(&format!("      <CtrlSum>{total}</CtrlSum>\n"));
    xml.push_str(&format!("      <InitgPty>\n        <Nm>{debtor}</Nm>\n      </InitgPty>\n"));
    xml.push_str("    </GrpHdr>\n");
    xml.push_str("    <PmtInf>\n");
    xml.push_str(&format!("      <PmtInfId>{id}</PmtInfId>\n"));
    xml.push_str("      <PmtMtd>TRF</PmtMtd>\n");
    xml.push_str(&format!("      <NbOfTxs>{count}</NbOfTxs>\n"));
    xml.push_str(&format!("      <CtrlSum>{total}</CtrlSum>\n"));
    xml.push_str("      <PmtTpInf>\n        <SvcLvl>\n          <Cd>SEPA</Cd>\n        </SvcLvl>\n      </PmtTpInf>\n");
    xml.push_str(&format!("      <ReqdExctnDt>\n        <Dt>{}</Dt>\n      </ReqdExctnDt>\n", header.execution_date));
    xml.push_str(&format!("      <Dbtr>\n        <Nm>{debtor}</Nm>\n      </Dbtr>\n"));
    xml.push_str(&format!(
        "      <DbtrAcct>\n        <Id>\n          <IBAN>{}</IBAN>\n        </Id>\n      </DbtrAcct>\n",
        escape(&header.debtor.iban)
    ));
    xml.push_str("      <DbtrAgt>\n        <FinInstnId>\n          <Othr>\n            <Id>NOTPROVIDED</Id>\n          </Othr>\n        </FinInstnId>\n      </DbtrAgt>\n");
    xml.push_str("      <ChrgBr>SLEV</ChrgBr>\n");
    for (number, transfer) in transfers.iter().enumerate() {
        let suffix = format!("-{:04}", number + 1);
        let end_to_end = format!("{}{suffix}", truncate(&header.message_id, MAX_ID - suffix.len()));
        xml.push_str("      <CdtTrfTxInf>\n");
        xml.push_str(&format!("        <PmtId>\n          <EndToEndId>{}</EndToEndId>\n        </PmtId>\n", escape(&end_to_end)));
        xml.push_str(&format!("        <Amt>\n          <InstdAmt Ccy=\"EUR\">{}</InstdAmt>\n        </Amt>\n", transfer.amount));
        xml.push_str(&format!("        <Cdtr>\n          <Nm>{}</Nm>\n        </Cdtr>\n", escape(&truncate(&transfer.name, MAX_TEXT))));
        xml.push_str(&format!(
            "        <CdtrAcct>\n          <Id>\n            <IBAN>{}</IBAN>\n          </Id>\n        </CdtrAcct>\n",
            escape(&transfer.iban)
        ));
        xml.push_str(&format!(
            "        <RmtInf>\n          <Ustrd>{}</Ustrd>\n        </RmtInf>\n",
            escape(&remittance(&transfer.obligations))
        ));
        xml.push_str("      </CdtTrfTxInf>\n");
    }
    xml.push_str("    </PmtInf>\n");
    xml.push_str("  </CstmrCdtTrfInitn>\n");
    xml.push_str("</Document>\n");
    xml
}

/// Seconds since the Unix epoch as an ISO 8601 UTC date-time (2026-07-15T09:30:00Z).
pub fn iso_datetime(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_special_characters() {
        assert_eq!(escape(r#"A&B <C> "D" 'E'"#), "A&amp;B &lt;C&gt; &quot;D&quot; &apos;E&apos;");
    }

    #[test]
    fn remittance_fits_in_140_characters_and_counts_what_is_left_out() {
        assert_eq!(remittance(&["p/m/1/zk".to_string()]), "fairshare obligation p/m/1/zk");
        let many: Vec<String> = (1..=20).map(|number| format!("rav-nw-acute/milestone-{number}/1/zk")).collect();
        let text = remittance(&many);
        assert!(text.chars().count() <= 140, "{text}");
        assert!(text.starts_with("fairshare obligations rav-nw-acute/milestone-1/1/zk"), "{text}");
        assert!(text.ends_with("more)"), "{text}");
        let shown = text.matches("rav-nw-acute").count();
        assert!(text.contains(&format!("(+{} more)", 20 - shown)), "{text}");
    }

    #[test]
    fn formats_the_clock_as_utc() {
        assert_eq!(iso_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_datetime(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_datetime(1_784_107_800), "2026-07-15T09:30:00Z");
    }

    #[test]
    fn the_header_checks_the_debtor_iban_and_date() {
        let error = Header::new("M1", "x".into(), "2026-07-15", "ZK", "NL92ABNA0417164300").unwrap_err();
        assert_eq!(error.input, "--debtor-iban");
        let error = Header::new("M1", "x".into(), "2026-13-01", "ZK", "NL91ABNA0417164300").unwrap_err();
        assert_eq!(error.input, "--execution-date");
        let error = Header::new(&"M".repeat(36), "x".into(), "2026-07-15", "ZK", "NL91ABNA0417164300").unwrap_err();
        assert_eq!(error.input, "--msg-id");
        assert_eq!(Header::new("M1", "x".into(), "2026-07-15", "ZK", "NL91 ABNA 0417 1643 00").unwrap().debtor.iban, "NL91ABNA0417164300");
    }
}
