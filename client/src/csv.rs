//! CSV as RFC 4180 writes it: a field with a comma, quote or line break is quoted, and a
//! quote inside is doubled. Finance systems read this; nothing fancier is needed.

use std::borrow::Cow;

pub fn field(text: &str) -> Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

/// One record, ending in CRLF as RFC 4180 says.
pub fn record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = fields.iter().map(|text| field(text.as_ref())).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(record(&["a", "b c", "1,5", "say \"hi\""]), "a,b c,\"1,5\",\"say \"\"hi\"\"\"\r\n");
    }
}
