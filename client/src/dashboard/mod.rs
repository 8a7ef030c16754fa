//! `fairshare dashboard`: web pages for the treasury, the plans and the regulator, rendered
//! on the server from the same queries the CLI asks, as the user's own identity.
//!
//! - [`html`]: the page around a view, tables, escaping, and the live update;
//! - [`svg`]: bar and step charts as SVG text;
//! - [`pages`]: the three pages, from views already fetched (no I/O);
//! - here: what a request asks for ([`Route`]) and its query string ([`query_string`]).
//!
//! The server itself (HTTP, connections, fetching the views) is `cmd/dashboard.rs`.

pub mod html;
pub mod pages;
pub mod svg;

use std::collections::BTreeMap;

/// A request's query string longer than this is refused: the pages' own links and the
/// payment form stay far below it.
pub const QUERY_BYTES_MAX: usize = 2_048;

/// What a GET asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the page of the identity's role.
    Home,
    Treasury,
    Plans,
    Monitor,
    /// `/size`: the log size the nodes hold now (the live update polls it).
    Size,
    ObligationsCsv,
    PaymentsCsv,
    Sepa,
    NotFound,
}

impl Route {
    pub fn of(path: &str) -> Route {
        match path {
            "/" => Route::Home,
            "/treasury" => Route::Treasury,
            "/plans" => Route::Plans,
            "/monitor" => Route::Monitor,
            "/size" => Route::Size,
            "/download/obligations.csv" => Route::ObligationsCsv,
            "/download/payments.csv" => Route::PaymentsCsv,
            "/download/pain.001.xml" => Route::Sepa,
            _ => Route::NotFound,
        }
    }
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query string is longer than {QUERY_BYTES_MAX} bytes")]
    TooLong,
    #[error("the query string is not valid percent-encoded UTF-8")]
    Encoding,
}

/// The parameters of a query string (`a=1&b=x+y%21`), decoded as HTML forms encode them;
/// a repeated name keeps its last value.
pub fn query_string(query: &str) -> Result<BTreeMap<String, String>, QueryError> {
    if query.len() > QUERY_BYTES_MAX {
        return Err(QueryError::TooLong);
    }
    let mut parameters = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters.insert(decode(name)?, decode(value)?);
    }
    Ok(parameters)
}

fn decode(text: &str) -> Result<String, QueryError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).ok_or(QueryError::Encoding)?;
                let hex = std::str::from_utf8(hex).map_err(|_| QueryError::Encoding)?;
                decoded.push(u8::from_str_radix(hex, 16).map_err(|_| QueryError::Encoding)?);
                index += 2;
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8(decoded).map_err(|_| QueryError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_as_forms_encode_them_and_refuse_what_is_broken() {
        let parameters = query_string("insurer=zk&debtor_name=Zilveren+Kruis%20NV&empty=&flag").unwrap();
        assert_eq!(parameters["insurer"], "zk");
        assert_eq!(parameters["debtor_name"], "Zilveren Kruis NV");
        assert_eq!((parameters["empty"].as_str(), parameters["flag"].as_str()), ("", ""));
        assert_eq!(query_string("a=%E2%82%AC").unwrap()["a"], "€");
        for broken in ["a=%", "a=%4", "a=%zz", "a=%ff", "a=%E2%82"] {
            assert_eq!(query_string(broken), Err(QueryError::Encoding), "{broken}");
        }
        assert_eq!(query_string(&"a".repeat(QUERY_BYTES_MAX + 1)), Err(QueryError::TooLong));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert_eq!(Route::of("/monitor"), Route::Monitor);
        for path in ["/monitor/", "/../etc/passwd", "", "/download/", "/TREASURY"] {
            assert_eq!(Route::of(path), Route::NotFound, "{path}");
        }
    }
}
