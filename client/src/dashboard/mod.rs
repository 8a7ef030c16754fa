//! `fairshare dashboard`: web pages for the treasury, the plans and the regulator, rendered
//! on the server from the same queries the CLI asks, as the user's own identity.
//!
//! - [`html`]: the page around a view, tables, escaping, and the live update;
//! - [`svg`]: bar and step charts as SVG text;
//! - [`pages`]: the three pages, from views already fetched (no I/O);
//! - here: what a request asks for ([`Route`]), its query string or form ([`query_string`]),
//!   and whether a request that changes something comes from the dashboard's own pages
//!   ([`own_origins`], [`check_same_origin`]).
//!
//! The server itself (HTTP, connections, fetching the views) is `cmd/dashboard.rs`.
//!
//! Every page and download is a GET and changes nothing. The one request with a side effect,
//! making a payment file (it is remembered as pending until recorded), is a POST from the
//! treasury page's form: browsers prefetch GETs, and any page the user visits can make the
//! browser send a GET or a form POST to loopback. So the POST is refused unless it says it
//! comes from this dashboard's own origin.

pub mod html;
pub mod pages;
pub mod svg;

use std::collections::BTreeMap;

use std::net::SocketAddr;

/// A request's query string, or a form's body, longer than this is refused: the pages' own
/// links and the payment form stay far below it. (A form body is parsed as a query string,
/// so one bound serves both.)
pub const QUERY_BYTES_MAX: usize = 2_048;

/// What a request asks for: every route is a GET, but [`Route::PaymentFile`], a POST.
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
    /// `POST /export/pain.001.xml`: make a pain.001 file and remember it as pending.
    PaymentFile,
    /// `/download/pending.xml?insurer=ID&message_id=MSGID`: a pending file, again.
    PendingFile,
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
            "/export/pain.001.xml" => Route::PaymentFile,
            "/download/pending.xml" => Route::PendingFile,
            _ => Route::NotFound,
        }
    }
}

impl Route {
    /// The one method the route answers: POST for what changes something, GET otherwise.
    pub fn method(&self) -> &'static str {
        match self {
            Route::PaymentFile => "POST",
            _ => "GET",
        }
    }
}

/// The origins the dashboard's own pages have, given the address it listens on and the
/// request's `Host`: `http://ADDRESS`, and `http://localhost:PORT` on loopback. On an
/// unspecified address (`0.0.0.0`, `::`, only with `--allow-remote`) the dashboard cannot
/// know by which address it is reached; it takes the request's `Host` when that is an IP
/// address with the port it listens on, never a name (with DNS rebinding another site can
/// make a name of its own point here, and its pages would then pass as ours), and
/// `localhost:PORT` (no other site can name localhost). On port 80 browsers leave the port
/// out of `Host` and `Origin`: each origin is then also known without it.
pub fn own_origins(listen: SocketAddr, host: Option<&str>) -> Vec<String> {
    let mut origins = Vec::new();
    if listen.ip().is_unspecified() {
        let reached = host.and_then(|host| {
            host.parse::<SocketAddr>().ok().or_else(|| {
                let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok()?;
                Some(SocketAddr::new(ip, 80))
            })
        });
        if let Some(reached) = reached.filter(|reached| reached.port() == listen.port() && !reached.ip().is_unspecified()) {
            origins.push(format!("http://{reached}"));
        }
        origins.push(format!("http://localhost:{}", listen.port()));
    } else {
        origins.push(format!("http://{listen}"));
        if listen.ip().is_loopback() {
            origins.push(format!("http://localhost:{}", listen.port()));
        }
    }
    if listen.port() == 80 {
        let without: Vec<String> = origins.iter().filter_map(|origin| origin.strip_suffix(":80").map(str::to_string)).collect();
        origins.extend(without);
    }
    origins
}

/// Whether a request names the dashboard itself in its `Host` header: one of
/// [`own_origins`]. Any other name is refused, for reads too: a site that points a name of
/// its own at 127.0.0.1 (DNS rebinding) would otherwise read the pages, with the user's
/// identity, from the user's own browser.
pub fn check_host(listen: SocketAddr, host: Option<&str>) -> Result<(), String> {
    let own = own_origins(listen, host);
    match host {
        Some(host) if own.iter().any(|origin| origin.strip_prefix("http://") == Some(host)) => Ok(()),
        _ => Err(format!(
            "refused: this dashboard answers as {}, not as {}; open it by that address",
            if own.is_empty() { format!("IP-ADDRESS:{}", listen.port()) } else { own.join(" or ") },
            host.map(fairshare_protocol::ids::echo).unwrap_or_else(|| "a request without Host".into())
        )),
    }
}

/// Whether a request that changes something comes from the dashboard's own pages: refused
/// (with the reason) when its `Origin` header is present and not one of `own`, or its
/// `Sec-Fetch-Site` header is present and not `same-origin`. A request with neither (curl,
/// a script of the user's) passes: browsers send `Origin` with every form POST.
pub fn check_same_origin(origin: Option<&str>, fetch_site: Option<&str>, own: &[String]) -> Result<(), String> {
    if let Some(origin) = origin {
        if !own.iter().any(|own| own == origin) {
            let own = if own.is_empty() { "none known: open the dashboard by its IP address".to_string() } else { own.join(", ") };
            return Err(format!(
                "refused: this request comes from {}, not from the dashboard's own pages ({own}); make payment files with the form on /treasury",
                fairshare_protocol::ids::echo(origin)
            ));
        }
    }
    if let Some(site) = fetch_site {
        if site != "same-origin" {
            return Err(format!(
                "refused: the browser says this request comes from another site (Sec-Fetch-Site: {}); make payment files with the form on /treasury",
                fairshare_protocol::ids::echo(site)
            ));
        }
    }
    Ok(())
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
    fn only_the_dashboards_own_address_may_be_named_as_host() {
        let loopback: SocketAddr = "127.0.0.1:8470".parse().unwrap();
        assert!(check_host(loopback, Some("127.0.0.1:8470")).is_ok());
        assert!(check_host(loopback, Some("localhost:8470")).is_ok());
        for other in ["rebound.example:8470", "127.0.0.1:8471", "localhost", "127.0.0.1", ""] {
            let refused = check_host(loopback, Some(other)).unwrap_err();
            assert!(refused.contains("127.0.0.1:8470"), "{refused}");
        }
        assert!(check_host(loopback, None).is_err());
        let any: SocketAddr = "0.0.0.0:8470".parse().unwrap();
        assert!(check_host(any, Some("192.0.2.7:8470")).is_ok(), "reached by an IP address");
        assert!(check_host(any, Some("dashboard.example:8470")).is_err(), "never by a name");
    }

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
    fn only_the_dashboards_own_origin_may_post() {
        let loopback: SocketAddr = "127.0.0.1:8470".parse().unwrap();
        let own = own_origins(loopback, Some("evil.example:8470"));
        assert_eq!(own, ["http://127.0.0.1:8470", "http://localhost:8470"], "the Host header does not widen a known address");
        assert_eq!(check_same_origin(Some("http://127.0.0.1:8470"), Some("same-origin"), &own), Ok(()));
        assert_eq!(check_same_origin(Some("http://localhost:8470"), None, &own), Ok(()));
        assert_eq!(check_same_origin(None, None, &own), Ok(()), "no browser headers: not a cross-site request");
        for (origin, site) in [
            (Some("http://evil.example"), None),
            (Some("http://127.0.0.1:8471"), None),
            (Some("null"), None),
            (Some("https://127.0.0.1:8470"), None),
            (None, Some("cross-site")),
            (None, Some("same-site")),
            (Some("http://127.0.0.1:8470"), Some("none")),
        ] {
            assert!(check_same_origin(origin, site, &own).is_err(), "{origin:?} {site:?}");
        }
        let v6: SocketAddr = "[::1]:9000".parse().unwrap();
        assert_eq!(own_origins(v6, None), ["http://[::1]:9000", "http://localhost:9000"]);
        let lan: SocketAddr = "192.168.1.5:8470".parse().unwrap();
        assert_eq!(own_origins(lan, Some("192.168.1.5:8470")), ["http://192.168.1.5:8470"]);
        // On 0.0.0.0 the Host is taken, but only an IP address on our port, never a name.
        let any: SocketAddr = "0.0.0.0:8470".parse().unwrap();
        assert_eq!(own_origins(any, Some("192.168.1.5:8470")), ["http://192.168.1.5:8470", "http://localhost:8470"]);
        assert_eq!(own_origins(any, Some("rebound.evil.example:8470")), ["http://localhost:8470"]);
        assert_eq!(own_origins(any, Some("192.168.1.5:9999")), ["http://localhost:8470"]);
        assert_eq!(own_origins(any, None), ["http://localhost:8470"]);
        let message = check_same_origin(Some("http://rebound.evil.example:8470"), None, &[]).unwrap_err();
        assert!(message.contains("IP address"), "{message}");
        // Port 80: browsers send neither Host nor Origin with ':80'.
        let web: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(check_host(web, Some("127.0.0.1")).is_ok() && check_host(web, Some("localhost")).is_ok());
        assert_eq!(check_same_origin(Some("http://127.0.0.1"), Some("same-origin"), &own_origins(web, None)), Ok(()));
        let any_web: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(check_host(any_web, Some("192.168.1.5")).is_ok());
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert_eq!(Route::of("/monitor"), Route::Monitor);
        assert_eq!((Route::of("/export/pain.001.xml"), Route::PaymentFile.method()), (Route::PaymentFile, "POST"));
        for path in ["/monitor/", "/../etc/passwd", "", "/download/", "/TREASURY", "/download/pain.001.xml"] {
            assert_eq!(Route::of(path), Route::NotFound, "{path}");
        }
    }
}
