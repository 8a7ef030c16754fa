//! `fairshare dashboard` in a real browser: a devnet plays the demo, a dashboard runs as an
//! insurer (zk: treasury, plans) and one as the regulator (nza: the monitor), and Debian's
//! headless `chromium` loads each page. The figures in the DOM must equal the `--json` of
//! the same CLI query; the downloads must be the bytes `fairshare export` writes; unknown
//! paths answer 404, broken query strings 400, `/size` grows with the log, and a page
//! older than `/size` fetches itself again and swaps its `<main>` (the live update).
//!
//! Artefacts: a screenshot of each page (1280×1600) is kept in
//! `target/test-artefacts/dashboard-{treasury,plans,monitor}.png`.
//!
//! Needs `chromium` (scripts/install-test-tools.sh installs it; CI runs that first). When
//! it is missing the test fails and says so: it is never skipped silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use fairshare_client::views::{FundReport, Monitor, NodeStatus, ObligationRow, PlanSummary};
use fairshare_protocol::Amount;

mod common;
use common::{binary, query, wait_until, Devnet, CONVERGE_DEADLINE};

const BROWSER: &str = "chromium";
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);
const START_DEADLINE: Duration = Duration::from_secs(30);
const HTTP_DEADLINE: Duration = Duration::from_secs(30);

/// A `fairshare dashboard` child process, killed on drop.
struct Dashboard {
    child: Child,
    base: String,
}

impl Dashboard {
    fn start(config: &Path, identity: &str) -> Dashboard {
        let mut child = Command::new(binary())
            .args(["--config"])
            .arg(config)
            .args(["--as", identity, "dashboard", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fairshare dashboard");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut dashboard = Dashboard { child, base: String::new() };
        let line = receiver
            .recv_timeout(START_DEADLINE)
            .unwrap_or_else(|_| panic!("the dashboard as {identity} said nothing within {START_DEADLINE:?}"));
        let url = line.split_whitespace().find(|word| word.starts_with("http://")).unwrap_or_else(|| panic!("no URL in: {line}"));
        dashboard.base = url.trim_end_matches('/').to_string();
        dashboard
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A plain HTTP/1.1 GET: (status code, body).
    fn get(&self, path: &str) -> (u16, String) {
        let address = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to the dashboard");
        stream.set_read_timeout(Some(HTTP_DEADLINE)).expect("a read timeout");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("send a request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {response}"));
        let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
        // The server answers with a content-length (whole bodies), never chunked.
        (status, body.to_string())
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs chromium headless with `args` and the URL; its stdout. Bounded by [`BROWSER_DEADLINE`].
fn browser(profile: &Path, args: &[String], url: &str) -> String {
    let mut child = Command::new(BROWSER)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {BROWSER} ({error}): install it with scripts/install-test-tools.sh"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + BROWSER_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "{BROWSER} {args:?} {url} failed: {status}");
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{BROWSER} did not finish {url} within {BROWSER_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50)); // a polling interval while the browser works
    }
    reader.join().expect("the reader thread")
}

/// Serves a copy of a dashboard page whose first load claims log size 0 (and says
/// "stale"), whose later loads are the page as it is (saying "fresh"), and `/size` as the
/// page's own size: a browser running the page's live-update script must fetch it again
/// and swap `<main>`. Runs until `stop` is set or [`HTTP_DEADLINE`] passes.
fn stale_page_server(page: String, stop: Arc<AtomicBool>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let address = listener.local_addr().expect("its address");
    let size = figure(&page, "size");
    let main = format!("<main data-size=\"{size}\">");
    assert!(page.contains(&main), "the page carries its size on <main>");
    let stale = page.replacen(&main, "<main data-size=\"0\"><p data-id=\"live\">stale</p>", 1);
    let fresh = page.replacen(&main, &format!("{main}<p data-id=\"live\">fresh</p>"), 1);
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + HTTP_DEADLINE;
        let mut pages_served = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10)); // a polling interval for accept
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = [0u8; 4096];
            let length = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..length]);
            let body = if line.starts_with("GET /size ") {
                size.clone()
            } else {
                pages_served += 1;
                if pages_served == 1 {
                    stale.clone()
                } else {
                    fresh.clone()
                }
            };
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    (format!("http://{address}/monitor"), handle)
}

/// The text of the element with `data-id="ID"` in a DOM dump.
fn figure(dom: &str, id: &str) -> String {
    let marker = format!("data-id=\"{id}\"");
    let at = dom.find(&marker).unwrap_or_else(|| panic!("no element with {marker} in the page"));
    let rest = &dom[at + marker.len()..];
    let start = rest.find('>').expect("the element's end") + 1;
    let end = rest[start..].find('<').expect("the element's text") + start;
    rest[start..end].to_string()
}

fn amount(dom: &str, id: &str) -> Amount {
    figure(dom, id).parse().unwrap_or_else(|error| panic!("{id}: {error}"))
}

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/").join("test-artefacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artefacts");
    dir
}

fn cli(config: &Path, args: &[&str]) -> String {
    let output = Command::new(binary()).arg("--config").arg(config).args(args).output().expect("run fairshare");
    assert!(output.status.success(), "fairshare {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn each_page_shows_in_a_browser_the_figures_of_the_cli_queries() {
    let started = Instant::now();
    assert!(
        Command::new(BROWSER).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success()),
        "{BROWSER} is not installed: run scripts/install-test-tools.sh (CI does before the tests)"
    );
    let mut devnet = Devnet::start(true);
    devnet.wait_ready();
    let config = devnet.client_config();
    let config = config.as_path();
    // The nodes agree and have certified the whole log, so the status figures hold still.
    let statuses: Vec<NodeStatus> = wait_until("the nodes to certify the whole log", CONVERGE_DEADLINE, || {
        let statuses: Vec<NodeStatus> = query(config, &["status"]);
        let size = statuses.first()?.size;
        statuses.iter().all(|status| status.reachable && status.size == size && status.certified_size == size).then_some(statuses)
    });
    let profile = tempfile::tempdir().expect("a browser profile dir");
    let artefacts = artefacts();
    let dump = |url: &str| browser(profile.path(), &["--dump-dom".to_string()], url);
    let screenshot = |url: &str, name: &str| {
        let path = artefacts.join(format!("dashboard-{name}.png"));
        let _ = std::fs::remove_file(&path);
        browser(profile.path(), &[format!("--screenshot={}", path.display()), "--window-size=1280,1600".to_string()], url);
        assert!(std::fs::metadata(&path).is_ok_and(|meta| meta.len() > 1_000), "a screenshot at {}", path.display());
    };

    // The treasury, as zk: the open total and what it owes each payee.
    let zk = Dashboard::start(config, "zk");
    let dom = dump(&zk.url("/treasury"));
    let open: Vec<ObligationRow> = query(config, &["obligations", "--insurer", "zk", "--open"]);
    assert!(!open.is_empty(), "the demo leaves zk with open obligations");
    assert_eq!(amount(&dom, "open-total"), open.iter().map(|row| row.outstanding).sum::<Amount>());
    let mut by_payee: BTreeMap<&str, Amount> = BTreeMap::new();
    for row in &open {
        *by_payee.entry(&row.payee).or_default() += row.outstanding;
    }
    for (payee, owed) in &by_payee {
        assert_eq!(amount(&dom, &format!("payee:{payee}")), *owed, "owed to {payee}");
    }
    screenshot(&zk.url("/treasury"), "treasury");
    // Its downloads are the files `fairshare export` writes.
    let (status, body) = zk.get("/download/obligations.csv?insurer=zk");
    assert_eq!(status, 200);
    assert_eq!(body, cli(config, &["export", "obligations", "--csv", "--insurer", "zk", "--open"]));
    let (status, body) = zk.get("/download/payments.csv?insurer=zk");
    assert_eq!(status, 200);
    assert_eq!(body, cli(config, &["export", "payments", "--csv", "--insurer", "zk"]));
    let sepa = "/download/pain.001.xml?insurer=zk&debtor_iban=NL91ABNA0417164300&debtor_name=Zilveren+Kruis&execution_date=2026-12-31";
    let (status, body) = zk.get(sepa);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("urn:iso:std:iso:20022:tech:xsd:pain.001.001.09") && body.contains("<Nm>Zilveren Kruis</Nm>"), "{body}");
    let (status, body) = zk.get(&sepa.replace("NL91ABNA0417164300", "NL00BANK0000000000"));
    assert_eq!(status, 400, "a bad IBAN is the user's error: {body}");
    assert!(body.contains("--debtor-iban"), "{body}");

    // The plans, as zk: each plan's status and what was paid on it.
    let dom = dump(&zk.url("/plans"));
    let plans: Vec<PlanSummary> = query(config, &["plans"]);
    for plan in &plans {
        assert_eq!(figure(&dom, &format!("plan:{}:status", plan.id)), plan.status, "{}", plan.id);
        assert_eq!(amount(&dom, &format!("plan:{}:paid", plan.id)), plan.paid, "{}", plan.id);
    }
    screenshot(&zk.url("/plans"), "plans");

    // The regulator's monitor, as nza: sector figures, the fund, each node's certified size.
    let nza = Dashboard::start(config, "nza");
    let dom = dump(&nza.url("/monitor"));
    let monitor: Monitor = query(config, &["--as", "nza", "report", "monitor"]);
    for sector in &monitor.sectors {
        assert_eq!(amount(&dom, &format!("sector:{}:committed", sector.key)), sector.committed, "{}", sector.key);
        assert_eq!(amount(&dom, &format!("sector:{}:paid", sector.key)), sector.paid, "{}", sector.key);
        assert_eq!(
            figure(&dom, &format!("sector:{}:earmark_use_percent", sector.key)),
            sector.earmark_use_percent.clone().unwrap_or_default()
        );
    }
    let fund: FundReport = query(config, &["--as", "nza", "report", "fund"]);
    assert_eq!(amount(&dom, "fund:free"), fund.free);
    for status in &statuses {
        assert_eq!(figure(&dom, &format!("node:{}:certified", status.node)), status.certified_size.to_string(), "{}", status.node);
        assert_eq!(figure(&dom, &format!("node:{}:state", status.node)), "up to date");
    }
    assert!(dom.contains("data-chart=\"sector\"") && dom.contains("data-chart=\"fund\""), "the charts are in the page");
    screenshot(&nza.url("/monitor"), "monitor");

    // What is not a page is 404; a broken query string 400; nothing else than GET.
    assert_eq!(nza.get("/nope").0, 404);
    assert_eq!(nza.get("/monitor/../etc/passwd").0, 404);
    assert_eq!(nza.get("/treasury?insurer=%zz").0, 400);
    assert_eq!(nza.get("/treasury?insurer=nobody").0, 400);

    // /size follows the log: an attestation by nza adds a leaf, and the page shows it.
    let before: u64 = nza.get("/size").1.trim().parse().expect("a size");
    cli(config, &["--as", "nza", "audit", "attest"]);
    wait_until("/size to grow after the attestation", CONVERGE_DEADLINE, || {
        let (status, body) = nza.get("/size");
        (status == 200 && body.trim().parse::<u64>().ok()? > before).then_some(())
    });
    let dom = dump(&nza.url("/monitor"));
    let attested: u64 = figure(&dom, "attestation:nza").parse().expect("an attested size");
    assert!(attested > 0 && attested <= before, "nza attested a certified size ≤ {before}: {attested}");

    // The live update: a page older than /size fetches itself again and swaps <main>
    // (the browser's virtual time lets its 2 s timer fire at once).
    let stop = Arc::new(AtomicBool::new(false));
    let (stale, server) = stale_page_server(nza.get("/monitor").1, stop.clone());
    let dom = browser(profile.path(), &["--virtual-time-budget=10000".to_string(), "--dump-dom".to_string()], &stale);
    stop.store(true, Ordering::Relaxed);
    server.join().expect("the stale page server");
    assert_eq!(figure(&dom, "live"), "fresh", "the page updated itself when the log grew");
    eprintln!("dashboard browser test took {:?}; screenshots in {}", started.elapsed(), artefacts.display());
}
