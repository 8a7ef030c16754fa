//! `fairshare dashboard`: a local web server with the treasury's, the plans' and the
//! regulator's pages, asking the nodes as the user's identity through the same
//! [`Connection`] as every other command (so it shows exactly what that role may read).
//!
//! HTTP/1.1 with hyper (already built for tonic). Limits: at most [`CONNECTIONS_MAX`]
//! connections at once (more are closed at once), headers within [`HEADER_READ_DEADLINE`],
//! a connection lives at most [`CONNECTION_DEADLINE`]. Every request path answers: a page,
//! a download, or an error page with a status code; nothing on a request path panics.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use fairshare_api::v1::{query_request::Query, Empty, MonitorRequest, ObligationFilter};
use fairshare_client::connection::{ClientError, Connection};
use fairshare_client::dashboard::html;
use fairshare_client::dashboard::pages::{self, Plans, Regulator, Treasury};
use fairshare_client::dashboard::{query_string, Route};
use fairshare_client::export;
use fairshare_client::sepa::{self, Header};
use fairshare_client::views::{FundReport, Monitor, ObligationRow, PlanSummary};
use fairshare_protocol::state::{Party, Payment, Plan};
use fairshare_protocol::Date;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::Context;

/// Open connections at once; a browser opens a handful.
const CONNECTIONS_MAX: usize = 64;
const HEADER_READ_DEADLINE: Duration = Duration::from_secs(10);
const CONNECTION_DEADLINE: Duration = Duration::from_secs(120);
/// Plans whose details (milestones, pending requests) one page asks for, one query each.
const PLAN_DETAILS_MAX: usize = 500;
/// After a failed accept (out of file descriptors), wait this long before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serve web pages: treasury, plans, and the regulator's monitor with charts.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare --as zk dashboard                          # http://127.0.0.1:8470/treasury\n  \
    fairshare --as nza dashboard --listen 127.0.0.1:9000 # then open http://127.0.0.1:9000/monitor\n\n\
    Pages: /treasury (what we owe whom, payments, CSV and pain.001 downloads), /plans (status,\n\
    what awaits whom, due and overdue milestones), /monitor (the monitor as charts, the fund,\n\
    verification). The pages ask the nodes as the --as identity, so they show what it may read,\n\
    and update themselves when the log grows. Listen on loopback only unless you mean to share\n\
    what your identity may read with everyone who can reach the address.")]
pub struct Args {
    /// The address to serve on.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
}

/// What every request needs: the connection (as the identity), who that is, and the
/// largest log size any page showed (later pages never show an older state).
struct Dashboard {
    connection: Connection,
    who: String,
    insurers: Vec<String>,
    seen: AtomicU64,
}

/// A page that could not be made: the HTTP status and what to say.
struct Problem {
    status: StatusCode,
    message: String,
}

impl Problem {
    fn bad_request(message: impl Into<String>) -> Problem {
        Problem { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl From<anyhow::Error> for Problem {
    fn from(error: anyhow::Error) -> Problem {
        let status = match error.downcast_ref::<ClientError>() {
            Some(ClientError::Rpc { code: tonic::Code::PermissionDenied, .. }) => StatusCode::FORBIDDEN,
            Some(ClientError::Rpc { code: tonic::Code::InvalidArgument, .. }) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
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
    async fn payments(&self, insurer: Option<&str>) -> Result<Vec<Payment>, Problem> {
        let payments: BTreeMap<String, Payment> = self.query(Query::Payments(Empty {})).await?;
        Ok(payments.into_values().filter(|payment| insurer.is_none_or(|insurer| payment.insurer == insurer)).collect())
    }

    /// The party register by id. The one place this file asks `Parties`.
    async fn parties(&self) -> Result<BTreeMap<String, Party>, Problem> {
        self.query(Query::Parties(Empty {})).await
    }

    /// Regulator → (checkpoint size it verified, root hex, leaf index of the attestation).
    /// The one place this file asks `Attestations`.
    async fn attestations(&self) -> Result<BTreeMap<String, (u64, String, u64)>, Problem> {
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
        Ok(pages::treasury(&Treasury {
            insurer: insurer.as_deref(),
            insurers: &self.insurers,
            today: today()?,
            open: &open,
            parties: &parties,
            payments: &payments,
            due: &due,
        }))
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
    async fn size(&self) -> Result<u64, Problem> {
        let statuses = super::status::statuses(&self.connection).await;
        statuses
            .iter()
            .filter(|status| status.reachable)
            .map(|status| status.size)
            .max()
            .ok_or_else(|| Problem { status: StatusCode::BAD_GATEWAY, message: "no node answered".into() })
    }

    async fn sepa(&self, parameters: &BTreeMap<String, String>) -> Result<Response<Full<Bytes>>, Problem> {
        let insurer =
            self.insurer(parameters)?.ok_or_else(|| Problem::bad_request("a SEPA payment file is one insurer's: give insurer=ID"))?;
        let field = |name: &str| parameters.get(name).map(String::as_str).unwrap_or_default();
        let created = sepa::now().ok_or_else(|| Problem::bad_request("the system clock is before 1970"))?;
        let message_id = sepa::default_message_id(&insurer, &created);
        let header = Header::new(&message_id, created, field("execution_date"), field("debtor_name"), field("debtor_iban"))
            .map_err(|error| Problem::bad_request(error.to_string()))?;
        let rows = self.open_obligations(Some(&insurer)).await?;
        let parties = self.parties().await?;
        let (transfers, _skipped) = sepa::transfers(&rows, &sepa::payees(parties));
        if transfers.is_empty() {
            return Err(Problem {
                status: StatusCode::CONFLICT,
                message: format!("nothing to pay: {insurer} has no open obligations to a payee with an IBAN; no file made"),
            });
        }
        Ok(download("application/xml", &format!("{message_id}.xml"), sepa::document(&header, &transfers)))
    }

    fn page(&self, path: &str, title: &str, body: &str) -> String {
        html::page(path, title, &self.who, self.seen.load(Ordering::Relaxed), body)
    }

    async fn answer(&self, method: &Method, uri: &Uri) -> Response<Full<Bytes>> {
        if method != Method::GET {
            return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET\n".into());
        }
        let path = uri.path();
        let route = Route::of(path);
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
            Route::ObligationsCsv | Route::PaymentsCsv | Route::Sepa => {
                return match self.file(&route, &parameters).await {
                    Ok(response) => response,
                    Err(problem) => respond(problem.status, "text/plain; charset=utf-8", format!("{}\n", problem.message)),
                }
            }
            Route::NotFound => {
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
                let payments: Vec<&Payment> = payments.iter().collect();
                Ok(download("text/csv; charset=utf-8", &format!("payments-{whose}.csv"), export::payments_csv(&payments)))
            }
            _ => self.sepa(parameters).await,
        }
    }
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let connection = context.connection()?;
        let who = match (&context.identity, &context.key) {
            (Some(id), Some(_)) => id.clone(),
            _ => context.config()?.identity(context.identity.as_deref())?.0,
        };
        let genesis = connection.genesis().await.context("cannot read the ledger's genesis")?;
        let insurers = genesis.insurers.iter().map(|member| member.id.clone()).collect();
        let seen = AtomicU64::new(context.min_size(&connection).await?);
        let dashboard = Arc::new(Dashboard { connection, who, insurers, seen });
        if !self.listen.ip().is_loopback() {
            eprintln!("warning: serving on {}, not loopback: whoever reaches it reads what '{}' may read", self.listen, dashboard.who);
        }
        let listener = tokio::net::TcpListener::bind(self.listen).await.with_context(|| format!("cannot listen on {}", self.listen))?;
        let address = listener.local_addr()?;
        println!("dashboard for {} at http://{address}/ (treasury, plans, monitor); stop with Ctrl-C", dashboard.who);
        serve(listener, dashboard).await;
        Ok(())
    }
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
                // Only the request line matters: a GET's body is never read.
                let (parts, _body) = request.into_parts();
                async move { Ok::<_, Infallible>(dashboard.answer(&parts.method, &parts.uri).await) }
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
