//! `fairshare dashboard`: a local web server with the treasury's, the plans' and the
//! regulator's pages, asking the nodes as the user's identity through the same
//! [`Connection`] as every other command (so it shows exactly what that role may read).
//!
//! HTTP/1.1 with hyper (already built for tonic). Limits: at most [`CONNECTIONS_MAX`]
//! connections at once (more are closed at once), headers within [`HEADER_READ_DEADLINE`],
//! a connection lives at most [`CONNECTION_DEADLINE`]. Every request path answers: a page,
//! a download, or an error page with a status code; nothing on a request path panics.
//!
//! Pages and downloads are GETs and change nothing. The payment form's POST makes a pain.001
//! file through `export sepa`'s own function ([`super::export::payment_file`]), which
//! remembers it as pending: it is refused from any other origin than the dashboard's own
//! (`fairshare_client::dashboard::check_same_origin`), its body is read up to
//! [`QUERY_BYTES_MAX`] within [`BODY_READ_DEADLINE`], and one file is made at a time.
//! The dashboard has no login, so it serves on loopback unless `--allow-remote` says otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use fairshare_api::v1::{query_request::Query, Empty, MonitorRequest, ObligationFilter};
use fairshare_client::config::Treasury as TreasuryConfig;
use fairshare_client::connection::{ClientError, Connection};
use fairshare_client::dashboard::html;
use fairshare_client::dashboard::pages::{self, Plans, Regulator, Treasury};
use fairshare_client::dashboard::{check_host, check_same_origin, own_origins, query_string, Route, QUERY_BYTES_MAX};
use fairshare_client::export;
use fairshare_client::exports::{Exported, Exports};
use fairshare_client::sepa;
use fairshare_client::views::{by_id, AttestationRow, FundReport, Monitor, ObligationRow, PaymentRow, PlanSummary};
use fairshare_protocol::state::{Party, Plan};
use fairshare_protocol::Date;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HOST, LOCATION, ORIGIN};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Semaphore};

use super::export::{self as export_command, LedgerReads, PaymentFileRequest, Refused};
use super::Context;

/// Open connections at once; a browser opens a handful.
const CONNECTIONS_MAX: usize = 64;
const HEADER_READ_DEADLINE: Duration = Duration::from_secs(10);
const CONNECTION_DEADLINE: Duration = Duration::from_secs(120);
/// Plans whose details (milestones, pending requests) one page asks for, one query each.
const PLAN_DETAILS_MAX: usize = 500;
/// After a failed accept (out of file descriptors), wait this long before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The payment form's body (a few short fields) arrives within this, or the POST is refused.
const BODY_READ_DEADLINE: Duration = Duration::from_secs(10);

/// Serve web pages: treasury, plans, and the regulator's monitor with charts.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare --as zk dashboard                          # http://127.0.0.1:8470/treasury\n  \
    fairshare --as nza dashboard --listen 127.0.0.1:9000 # then open http://127.0.0.1:9000/monitor\n  \
    fairshare --as zk dashboard --listen 10.0.0.5:8470 --allow-remote  # no login: the network reads zk's view\n\n\
    Pages: /treasury (what we owe whom, payments, CSV downloads, a form that makes a pain.001\n\
    file as 'export sepa' does, and the files exported but not recorded yet), /plans (status,\n\
    what awaits whom, due and overdue milestones), /monitor (the monitor as charts, the fund,\n\
    verification). The pages ask the nodes as the --as identity, so they show what it may read,\n\
    and update themselves when the log grows. There is no login: the dashboard serves on a\n\
    loopback address only, unless --allow-remote says you mean to share it.")]
pub struct Args {
    /// The address to serve on (a loopback address, unless --allow-remote).
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// Serve on a --listen address that is not loopback. There is no login: whoever reaches
    /// the address reads what the --as identity may read, and can make pain.001 exports
    /// (remembered as pending by this client).
    #[arg(long)]
    allow_remote: bool,
}

/// What every request needs: the connection (as the identity), who that is, and the
/// largest log size any page showed (later pages never show an older state); for the
/// payment form, where this client keeps its exports and the debtor account of `[treasury]`.
struct Dashboard {
    connection: Connection,
    who: String,
    insurers: Vec<String>,
    seen: AtomicU64,
    /// The address served on: the origin a POST must come from.
    listen: SocketAddr,
    exports: Exports,
    /// `exports/` beside the client config, as the treasury page names it.
    exports_dir: String,
    treasury: Option<TreasuryConfig>,
    /// Held while a payment file is made: two submissions at once would otherwise both
    /// read the same obligations as not yet exported, and pay them twice.
    exporting: Mutex<()>,
    /// What `/size` answers while the log stream runs ([`follow_the_log`]): the largest log
    /// size seen, when it was last asked of the nodes, and whether the stream is open.
    latest: AtomicU64,
    asked_at: std::sync::Mutex<Option<std::time::Instant>>,
    following: std::sync::atomic::AtomicBool,
}

/// While the log stream is open, `/size` answers from what it brought; at the latest after
/// this long it asks every node again (a stream can stall without breaking).
const SIZE_TRUSTED: Duration = Duration::from_secs(30);
/// After the log stream broke, it is opened again after this (`/size` asks the nodes meanwhile).
const FOLLOW_AGAIN_AFTER: Duration = Duration::from_secs(5);

/// A page that could not be made: the HTTP status and what to say.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// So a problem can pass through `export sepa`'s function ([`LedgerReads`]) and come out
/// with its status.
impl std::error::Error for Problem {}

impl Problem {
    fn bad_request(message: impl Into<String>) -> Problem {
        Problem { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl From<anyhow::Error> for Problem {
    fn from(error: anyhow::Error) -> Problem {
        let error = match error.downcast::<Problem>() {
            Ok(problem) => return problem,
            Err(error) => error,
        };
        if error.downcast_ref::<Refused>().is_some() {
            return Problem::bad_request(format!("{error:#}"));
        }
        let status = match error.downcast_ref::<ClientError>() {
            Some(ClientError::Rpc { code: tonic::Code::PermissionDenied, .. }) => StatusCode::FORBIDDEN,
            Some(ClientError::Rpc { code: tonic::Code::InvalidArgument, .. }) => StatusCode::BAD_REQUEST,
            Some(_) => StatusCode::BAD_GATEWAY,
            // Not the nodes' answer: this dashboard's own failure (its exports dir, its clock).
            None => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem { status, message: format!("{error:#}") }
    }
}

impl From<ClientError> for Problem {
    fn from(error: ClientError) -> Problem {
        Problem::from(anyhow::Error::from(error))
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = content_type.parse() {
        headers.insert(CONTENT_TYPE, value);
    }
    if let Ok(value) = "no-store".parse() {
        headers.insert(CACHE_CONTROL, value);
    }
    // Never inside another site's frame (a framed form is one click from a POST that passes
    // the Origin check), never sniffed into another type, no URL to other sites.
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

fn download(content_type: &str, filename: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = respond(StatusCode::OK, content_type, body);
    // The file name is built from genesis ids (slugs) only.
    if let Ok(value) = format!("attachment; filename=\"{filename}\"").parse() {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    response
}

fn today() -> Result<Date, Problem> {
    let now = sepa::now()
        .ok_or_else(|| Problem { status: StatusCode::INTERNAL_SERVER_ERROR, message: "the system clock is before 1970".into() })?;
    Date::parse(now.get(..10).unwrap_or_default(), "today")
        .map_err(|rejection| Problem { status: StatusCode::INTERNAL_SERVER_ERROR, message: rejection.message })
}

impl Dashboard {
    async fn query<T: DeserializeOwned>(&self, query: Query) -> Result<T, Problem> {
        let (node, response) = self.connection.query(query, self.seen.load(Ordering::Relaxed)).await?;
        self.seen.fetch_max(response.size, Ordering::Relaxed);
        serde_json::from_str(&response.json)
            .with_context(|| format!("{node} answered with JSON this client does not understand (another version?)"))
            .map_err(Problem::from)
    }

    /// `?insurer=ID` (empty: all insurers), else the identity's own when it is an insurer.
    fn insurer(&self, parameters: &BTreeMap<String, String>) -> Result<Option<String>, Problem> {
        match parameters.get("insurer") {
            Some(insurer) if insurer.is_empty() => Ok(None),
            Some(insurer) if self.insurers.contains(insurer) => Ok(Some(insurer.clone())),
            Some(insurer) => Err(Problem::bad_request(format!(
                "'{}' is not an insurer of this ledger; its insurers are {}",
                fairshare_protocol::ids::echo(insurer),
                self.insurers.join(", ")
            ))),
            None => Ok(self.insurers.contains(&self.who).then(|| self.who.clone())),
        }
    }

    async fn open_obligations(&self, insurer: Option<&str>) -> Result<Vec<ObligationRow>, Problem> {
        let filter = ObligationFilter { insurer: insurer.unwrap_or_default().to_string(), open_only: true, ..ObligationFilter::default() };
        self.query(Query::Obligations(filter)).await
    }

    /// The payment records (of `insurer`, or all). The one place this file asks `Payments`.
    async fn payments(&self, insurer: Option<&str>) -> Result<Vec<PaymentRow>, Problem> {
        let payments: Vec<PaymentRow> = self.query(Query::Payments(Empty {})).await?;
        Ok(payments.into_iter().filter(|payment| insurer.is_none_or(|insurer| payment.insurer == insurer)).collect())
    }

    /// The party register by id. The one place this file asks `Parties`.
    async fn parties(&self) -> Result<BTreeMap<String, Party>, Problem> {
        Ok(by_id(self.query::<Vec<Party>>(Query::Parties(Empty {})).await?, |party| &party.id))
    }

    /// Each regulator's newest attestation. The one place this file asks `Attestations`.
    async fn attestations(&self) -> Result<Vec<AttestationRow>, Problem> {
        self.query(Query::Attestations(Empty {})).await
    }

    /// The plans named (at most [`PLAN_DETAILS_MAX`]), with their milestones.
    async fn plans(&self, ids: Vec<String>) -> Result<Vec<Plan>, Problem> {
        let mut plans = Vec::new();
        for id in ids.into_iter().take(PLAN_DETAILS_MAX) {
            let shown: serde_json::Value = self.query(Query::Plan(id)).await?;
            let plan = serde_json::from_value(shown["plan"].clone()).context("a plan this client does not understand")?;
            plans.push(plan);
        }
        Ok(plans)
    }

    async fn treasury(&self, parameters: &BTreeMap<String, String>) -> Result<String, Problem> {
        let insurer = self.insurer(parameters)?;
        let open = self.open_obligations(insurer.as_deref()).await?;
        let parties = self.parties().await?;
        let payments = self.payments(insurer.as_deref()).await?;
        let plan_ids: BTreeSet<String> = open.iter().map(|obligation| obligation.plan.clone()).collect();
        let plans = self.plans(plan_ids.into_iter().collect()).await?;
        let due: BTreeMap<(String, String), Date> = plans
            .iter()
            .flat_map(|plan| plan.milestones.values().map(|milestone| ((plan.id.clone(), milestone.id.clone()), milestone.due)))
            .collect();
        // The payments shown are the insurer's (or all): the ones that can record its exports.
        let payment_ids: BTreeSet<String> = payments.iter().map(|payment| payment.id.clone()).collect();
        let pending = self.pending_exports(insurer.as_deref(), &payment_ids)?;
        Ok(pages::treasury(&Treasury {
            insurer: insurer.as_deref(),
            insurers: &self.insurers,
            today: today()?,
            open: &open,
            parties: &parties,
            payments: &payments,
            due: &due,
            pending: &pending,
            exports_dir: &self.exports_dir,
            debtor: self.treasury.as_ref().map(|treasury| (treasury.debtor_name.as_str(), treasury.debtor_iban.as_str())),
        }))
    }

    /// The exports of `insurer` (or of every insurer) that the ledger does not record yet,
    /// by the rule `export sepa` applies ([`Exported::is_recorded`]). A GET only reads: the
    /// files of recorded exports are removed by the next export or `pay --from-sepa`.
    fn pending_exports(&self, insurer: Option<&str>, payment_ids: &BTreeSet<String>) -> Result<Vec<Exported>, Problem> {
        let insurers: Vec<&str> = match insurer {
            Some(insurer) => vec![insurer],
            None => self.insurers.iter().map(String::as_str).collect(),
        };
        let mut pending = Vec::new();
        for insurer in insurers {
            let exports = self.exports.pending(insurer).map_err(|error| Problem {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("cannot read this client's exports: {error}"),
            })?;
            pending.extend(exports.into_iter().filter(|export| !export.is_recorded(payment_ids)));
        }
        Ok(pending)
    }

    async fn plans_page(&self) -> Result<String, Problem> {
        let summaries: Vec<PlanSummary> = self.query(Query::Plans(Empty {})).await?;
        let ids: Vec<String> = summaries.iter().map(|summary| summary.id.clone()).collect();
        let plans = self.plans(ids).await?;
        Ok(pages::plans(&Plans { today: today()?, summaries: &summaries, plans: &plans }))
    }

    async fn monitor(&self) -> Result<String, Problem> {
        let monitor: Monitor = self.query(Query::Monitor(MonitorRequest::default())).await?;
        let fund: FundReport = self.query(Query::Fund(Empty {})).await?;
        let attestations = self.attestations().await?;
        let statuses = super::status::statuses(&self.connection).await;
        Ok(pages::regulator(&Regulator { monitor: &monitor, fund: &fund, statuses: &statuses, attestations: &attestations }))
    }

    /// The largest log size among the nodes that answer (what the live update compares).
    /// From the log stream while it runs ([`follow_the_log`]), else asked of every node.
    async fn size(&self) -> Result<u64, Problem> {
        let asked = *self.asked_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.following.load(Ordering::Relaxed) && asked.is_some_and(|at| at.elapsed() < SIZE_TRUSTED) {
            return Ok(self.latest.load(Ordering::Relaxed));
        }
        let statuses = super::status::statuses(&self.connection).await;
        let size = statuses
            .iter()
            .filter(|status| status.reachable)
            .map(|status| status.size)
            .max()
            .ok_or_else(|| Problem { status: StatusCode::BAD_GATEWAY, message: "no node answered".into() })?;
        Ok(self.saw(size))
    }

    /// Notes a log size a node reported; the largest seen.
    fn saw(&self, size: u64) -> u64 {
        *self.asked_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(std::time::Instant::now());
        self.latest.fetch_max(size, Ordering::Relaxed).max(size)
    }

    /// The payment form's POST: a pain.001 file made by `export sepa`'s own function (which
    /// saves it as pending), as a download; or, when none was made (nothing to pay, a second
    /// file within the same second), a page saying why.
    async fn payment_file(&self, parameters: &BTreeMap<String, String>) -> Result<Response<Full<Bytes>>, Problem> {
        let insurer =
            self.insurer(parameters)?.ok_or_else(|| Problem::bad_request("a SEPA payment file is one insurer's: give insurer=ID"))?;
        // An empty field is not given: the debtor then comes from [treasury].
        let given = |name: &str| parameters.get(name).map(|value| value.trim()).filter(|value| !value.is_empty()).map(str::to_string);
        let request = PaymentFileRequest {
            insurer,
            debtor_iban: given("debtor_iban"),
            debtor_name: given("debtor_name"),
            execution_date: given("execution_date").unwrap_or_default(),
            message_id: None, // the default, FS-INSURER-YYYYMMDDHHMMSS: the download's file name is built from it
        };
        let _one_at_a_time = self.exporting.lock().await;
        // The response is the delivery: nothing to do before the export is saved.
        let file = export_command::payment_file(self, &self.exports, self.treasury.as_ref(), request, |_| {}, |_| Ok(())).await?;
        match &file.xml {
            Ok(xml) => Ok(download("application/xml", &format!("{}.xml", file.header.message_id), xml.clone())),
            Err(why) => {
                let mut body = html::problem(why);
                body.push_str("<ul>");
                for note in file.notes() {
                    body.push_str(&format!("<li>{}</li>", html::escape(&note)));
                }
                body.push_str("</ul><p><a href=\"/treasury\">back to the treasury</a></p>");
                Ok(respond(StatusCode::CONFLICT, "text/html; charset=utf-8", self.page("/treasury", "SEPA payment file", &body)))
            }
        }
    }

    /// `POST /export/pain.001.xml`: only from the dashboard's own pages, a small form body.
    async fn post_payment_file(&self, parts: &Parts, body: Incoming) -> Response<Full<Bytes>> {
        let made = async {
            let header = |name: &str| parts.headers.get(name).map(|value| value.to_str().unwrap_or("(not text)"));
            let own = own_origins(self.listen, header(HOST.as_str()));
            check_same_origin(header(ORIGIN.as_str()), header("sec-fetch-site"), &own)
                .map_err(|why| Problem { status: StatusCode::FORBIDDEN, message: why })?;
            let form = header(CONTENT_TYPE.as_str()).and_then(|value| value.split(';').next()).map(str::trim);
            if !form.is_some_and(|form| form.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
                return Err(Problem {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    message: "send the payment form as application/x-www-form-urlencoded".into(),
                });
            }
            let parameters = query_string(&read_form(body).await?).map_err(|error| Problem::bad_request(error.to_string()))?;
            self.payment_file(&parameters).await
        };
        match made.await {
            Ok(response) => response,
            Err(problem) => respond(
                problem.status,
                "text/html; charset=utf-8",
                self.page("/treasury", "SEPA payment file", &html::problem(&problem.message)),
            ),
        }
    }

    fn page(&self, path: &str, title: &str, body: &str) -> String {
        html::page(path, title, &self.who, self.seen.load(Ordering::Relaxed), body)
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let host = parts.headers.get(HOST).map(|value| value.to_str().unwrap_or("(not text)"));
        if let Err(why) = check_host(self.listen, host) {
            return respond(StatusCode::MISDIRECTED_REQUEST, "text/plain; charset=utf-8", format!("{why}\n"));
        }
        let route = Route::of(parts.uri.path());
        if route != Route::NotFound && parts.method.as_str() != route.method() {
            let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", format!("{} only\n", route.method()));
            response.headers_mut().insert(ALLOW, hyper::header::HeaderValue::from_static(route.method()));
            return response;
        }
        if route == Route::PaymentFile {
            return self.post_payment_file(&parts, body).await;
        }
        // A GET's body is never read.
        self.get(&route, &parts.uri).await
    }

    async fn get(&self, route: &Route, uri: &Uri) -> Response<Full<Bytes>> {
        let path = uri.path();
        let parameters = match query_string(uri.query().unwrap_or_default()) {
            Ok(parameters) => parameters,
            Err(error) => return respond(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", format!("{error}\n")),
        };
        let (title, made) = match route {
            Route::Home => {
                let to = if self.insurers.contains(&self.who) { "/treasury" } else { "/monitor" };
                let mut response = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", format!("see {to}\n"));
                if let Ok(value) = to.parse() {
                    response.headers_mut().insert(LOCATION, value);
                }
                return response;
            }
            Route::Size => {
                return match self.size().await {
                    Ok(size) => respond(StatusCode::OK, "text/plain; charset=utf-8", size.to_string()),
                    Err(problem) => respond(problem.status, "text/plain; charset=utf-8", problem.message),
                }
            }
            Route::ObligationsCsv | Route::PaymentsCsv | Route::PendingFile => {
                return match self.file(route, &parameters).await {
                    Ok(response) => response,
                    Err(problem) => respond(problem.status, "text/plain; charset=utf-8", format!("{}\n", problem.message)),
                }
            }
            Route::PaymentFile | Route::NotFound => {
                let body = html::problem(&format!("there is no page {path}; the pages are /treasury, /plans and /monitor"));
                return respond(StatusCode::NOT_FOUND, "text/html; charset=utf-8", self.page(path, "Not found", &body));
            }
            Route::Treasury => ("Treasury: what we owe whom", self.treasury(&parameters).await),
            Route::Plans => ("Plans and milestones", self.plans_page().await),
            Route::Monitor => ("IZA monitor", self.monitor().await),
        };
        match made {
            Ok(body) => respond(StatusCode::OK, "text/html; charset=utf-8", self.page(path, title, &body)),
            Err(problem) => respond(problem.status, "text/html; charset=utf-8", self.page(path, title, &html::problem(&problem.message))),
        }
    }

    async fn file(&self, route: &Route, parameters: &BTreeMap<String, String>) -> Result<Response<Full<Bytes>>, Problem> {
        let insurer = self.insurer(parameters)?;
        let whose = insurer.clone().unwrap_or_else(|| "all".to_string());
        match route {
            Route::ObligationsCsv => {
                let open = self.open_obligations(insurer.as_deref()).await?;
                let parties = self.parties().await?;
                Ok(download("text/csv; charset=utf-8", &format!("obligations-open-{whose}.csv"), export::obligations_csv(&open, &parties)))
            }
            Route::PaymentsCsv => {
                let payments = self.payments(insurer.as_deref()).await?;
                let payments: Vec<&PaymentRow> = payments.iter().collect();
                Ok(download("text/csv; charset=utf-8", &format!("payments-{whose}.csv"), export::payments_csv(&payments)))
            }
            Route::PendingFile => {
                let insurer = insurer.ok_or_else(|| Problem::bad_request("a payment file is one insurer's: give insurer=ID"))?;
                let message_id = parameters.get("message_id").map(String::as_str).unwrap_or_default();
                let kept = self.exports.document(&insurer, message_id).map_err(|error| Problem::bad_request(error.to_string()))?;
                let xml = kept.ok_or_else(|| Problem {
                    status: StatusCode::NOT_FOUND,
                    message: format!(
                        "{insurer} has no unrecorded payment file {} kept on this client",
                        fairshare_protocol::ids::echo(message_id)
                    ),
                })?;
                Ok(download("application/xml", &format!("{message_id}.xml"), xml))
            }
            _ => Err(Problem::bad_request("not a download")),
        }
    }
}

/// The dashboard as `export sepa`'s function reads the ledger: through the same methods
/// (and the same newest-state rule) as its pages.
impl LedgerReads for Dashboard {
    async fn open_obligations(&self, insurer: &str) -> Result<Vec<ObligationRow>> {
        Ok(Dashboard::open_obligations(self, Some(insurer)).await?)
    }

    async fn payment_ids(&self) -> Result<BTreeSet<String>> {
        Ok(Dashboard::payments(self, None).await?.into_iter().map(|payment| payment.id).collect())
    }

    async fn parties(&self) -> Result<BTreeMap<String, Party>> {
        Ok(Dashboard::parties(self).await?)
    }
}

/// Reads the payment form's body: at most [`QUERY_BYTES_MAX`] bytes (it is parsed as a query
/// string) within [`BODY_READ_DEADLINE`].
async fn read_form(body: Incoming) -> Result<String, Problem> {
    let collected = tokio::time::timeout(BODY_READ_DEADLINE, Limited::new(body, QUERY_BYTES_MAX).collect())
        .await
        .map_err(|_| Problem {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("the form did not arrive within {BODY_READ_DEADLINE:?}"),
        })?
        .map_err(|error| match error.downcast_ref::<LengthLimitError>() {
            Some(_) => {
                Problem { status: StatusCode::PAYLOAD_TOO_LARGE, message: format!("the form is longer than {QUERY_BYTES_MAX} bytes") }
            }
            None => Problem::bad_request(format!("the form broke off: {error}")),
        })?;
    String::from_utf8(collected.to_bytes().to_vec()).map_err(|_| Problem::bad_request("the form is not UTF-8"))
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        if !self.listen.ip().is_loopback() && !self.allow_remote {
            bail!(
                "refusing to serve on {}: it is not a loopback address, and the dashboard has no login, so whoever reaches it \
                 would read what {} may read and could make pain.001 exports; listen on 127.0.0.1 (the default), \
                 or pass --allow-remote if that is what you mean",
                self.listen,
                context
                    .identity
                    .as_deref()
                    .map_or("the signing identity".to_string(), |id| format!("'{}'", fairshare_protocol::ids::echo(id)))
            );
        }
        let connection = context.connection()?;
        let who = match (&context.identity, &context.key) {
            (Some(id), Some(_)) => id.clone(),
            _ => context.config()?.identity(context.identity.as_deref())?.0,
        };
        let genesis = connection.genesis().await.context("cannot read the ledger's genesis")?;
        let insurers = genesis.insurers.iter().map(|member| member.id.clone()).collect();
        let seen = AtomicU64::new(context.min_size(&connection).await?);
        let listener = tokio::net::TcpListener::bind(self.listen).await.with_context(|| format!("cannot listen on {}", self.listen))?;
        let listen = listener.local_addr()?;
        let exports_dir = context.state_dir().join("exports");
        let dashboard = Arc::new(Dashboard {
            connection,
            who,
            insurers,
            seen,
            listen,
            exports: Exports::new(&exports_dir),
            exports_dir: exports_dir.display().to_string(),
            treasury: context.config().ok().and_then(|config| config.file.treasury.clone()),
            exporting: Mutex::new(()),
            latest: AtomicU64::new(0),
            asked_at: std::sync::Mutex::new(None),
            following: std::sync::atomic::AtomicBool::new(false),
        });
        if !listen.ip().is_loopback() {
            eprintln!(
                "warning: serving on {listen}, not loopback (--allow-remote): whoever reaches it reads what '{}' may read and can make pain.001 exports",
                dashboard.who
            );
        }
        // On 0.0.0.0 the pages answer by an IP address or localhost, not by 0.0.0.0.
        let open_at = if listen.ip().is_unspecified() { format!("localhost:{}", listen.port()) } else { listen.to_string() };
        println!("dashboard for {} at http://{open_at}/ (treasury, plans, monitor); stop with Ctrl-C", dashboard.who);
        tokio::spawn(follow_the_log(dashboard.clone()));
        serve(listener, dashboard).await;
        Ok(())
    }
}

/// Keeps the log stream open (`AuditLog`, following, from the newest block on), and on
/// every block asks that node its size: the pages' live update then comes from the stream,
/// not from every open page asking every node every 2 s. An identity that may not read the
/// log (a party's reader) leaves it to `/size` asking the nodes.
async fn follow_the_log(dashboard: Arc<Dashboard>) {
    loop {
        let refused = follow_once(&dashboard).await;
        dashboard.following.store(false, Ordering::Relaxed);
        if refused {
            return;
        }
        tokio::time::sleep(FOLLOW_AGAIN_AFTER).await;
    }
}

/// One log stream, until it breaks; true when the node refused this identity the log.
async fn follow_once(dashboard: &Dashboard) -> bool {
    let Ok(mut node) = fairshare_client::audit::fetch::Node::first(&dashboard.connection).await else { return false };
    let Ok(status) = node.status().await else { return false };
    let mut stream = match node.follow_log(status.applied_index + 1).await {
        Ok(stream) => stream,
        Err(ClientError::Rpc { code: tonic::Code::PermissionDenied, .. }) => return true,
        Err(_) => return false,
    };
    dashboard.saw(status.size);
    if !dashboard.following.swap(true, Ordering::Relaxed) {
        println!("live: following the log of {} (pages update as blocks arrive)", node.url);
    }
    while let Ok(Some(_block)) = stream.message().await {
        match node.status().await {
            Ok(status) => {
                dashboard.saw(status.size);
            }
            Err(_) => return false,
        }
    }
    false
}

/// Accepts connections until Ctrl-C, each served on its own task within the limits above.
async fn serve(listener: tokio::net::TcpListener, dashboard: Arc<Dashboard>) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        // Over the cap: close at once rather than queue (the browser retries).
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let dashboard = dashboard.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let dashboard = dashboard.clone();
                async move { Ok::<_, Infallible>(dashboard.answer(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_DEADLINE)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
            drop(permit);
        });
    }
}
