//! `fairshare dashboard` in a real browser: a devnet plays the demo, a dashboard runs as an
//! insurer (zk: treasury, plans) and one as the regulator (nza: the monitor), and Debian's
//! headless `chromium` loads each page. The figures in the DOM must equal the `--json` of
//! the same CLI query; the downloads must be the bytes `fairshare export` writes; unknown
//! paths answer 404, broken query strings 400, `/size` grows with the log, and a page
//! older than `/size` fetches itself again and swaps its `<main>` (the live update).
//! The treasury's payment form (issue 16) makes the file `export sepa` makes and remembers
//! it as pending; a POST from another origin, also one a real browser sends, is refused.
//! A dashboard refuses a non-loopback `--listen` without `--allow-remote`.
//!
//! One devnet serves every check, so the file holds one test for it (the tests of a file
//! run in parallel threads, each would start its own devnet); the refusal of a
//! non-loopback address needs no devnet and is a test of its own.
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
use common::{binary, query, texts, wait_until, Devnet, CONVERGE_DEADLINE};

const BROWSER: &str = "chromium";
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);
const START_DEADLINE: Duration = Duration::from_secs(30);
const HTTP_DEADLINE: Duration = Duration::from_secs(30);
/// Where the treasury's payment form posts.
const PAYMENT_FILE: &str = "/export/pain.001.xml";
/// The debtor account of the `[treasury]` the zk dashboard's config has.
const TREASURY: &str = "\n[treasury]\ndebtor_iban = \"NL91ABNA0417164300\"\ndebtor_name = \"Zilveren Kruis\"\n";

/// A `fairshare dashboard` child process, killed on drop.
struct Dashboard {
    child: Child,
    base: String,
    /// The lines it printed after its address.
    said: mpsc::Receiver<String>,
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
        let mut dashboard = Dashboard { child, base: String::new(), said: receiver };
        let line = dashboard
            .said
            .recv_timeout(START_DEADLINE)
            .unwrap_or_else(|_| panic!("the dashboard as {identity} said nothing within {START_DEADLINE:?}"));
        let url = line.split_whitespace().find(|word| word.starts_with("http://")).unwrap_or_else(|| panic!("no URL in: {line}"));
        dashboard.base = url.trim_end_matches('/').to_string();
        dashboard
    }

    /// Whether it prints a line containing `text` within `limit`.
    fn says(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.said.recv_timeout(left) {
                Ok(line) if line.contains(text) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A plain HTTP/1.1 GET: (status code, body).
    fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.request("GET", path, &[], "");
        (status, body)
    }

    /// The payment form's POST with `headers` (what a browser adds): (status, head, body).
    fn post(&self, form: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut headers = headers.to_vec();
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        self.request("POST", PAYMENT_FILE, &headers, form)
    }

    /// One HTTP/1.1 request: (status code, head, body).
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
        let address = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to the dashboard");
        stream.set_read_timeout(Some(HTTP_DEADLINE)).expect("a read timeout");
        // `Host` is the address it listens on unless a test names another.
        let host = headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("host")).map_or(address, |(_, value)| *value);
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers.iter().filter(|(name, _)| !name.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).expect("send a request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {response}"));
        let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
        // The server answers with a content-length (whole bodies), never chunked.
        (status, head.to_string(), body.to_string())
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

/// A small web server on a free loopback port: `answer` gives the body for each request's
/// first line. Runs until `stop` is set or [`HTTP_DEADLINE`] passes; (base URL, its thread).
fn page_server(mut answer: impl FnMut(&str) -> String + Send + 'static, stop: Arc<AtomicBool>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let address = listener.local_addr().expect("its address");
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + HTTP_DEADLINE;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10)); // a polling interval for accept
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = [0u8; 4096];
            let length = stream.read(&mut request).unwrap_or(0);
            let body = answer(&String::from_utf8_lossy(&request[..length]));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{address}"), handle)
}

/// Serves a copy of a dashboard page whose first load claims log size 0 (and says
/// "stale"), whose later loads are the page as it is (saying "fresh"), and `/size` as the
/// page's own size: a browser running the page's live-update script must fetch it again
/// and swap `<main>`.
fn stale_page_server(page: String, stop: Arc<AtomicBool>) -> (String, std::thread::JoinHandle<()>) {
    let size = figure(&page, "size");
    let main = format!("<main data-size=\"{size}\">");
    assert!(page.contains(&main), "the page carries its size on <main>");
    let stale = page.replacen(&main, "<main data-size=\"0\"><p data-id=\"live\">stale</p>", 1);
    let fresh = page.replacen(&main, &format!("{main}<p data-id=\"live\">fresh</p>"), 1);
    let mut pages_served = 0;
    let (base, handle) = page_server(
        move |line| {
            if line.starts_with("GET /size ") {
                return size.clone();
            }
            pages_served += 1;
            if pages_served == 1 {
                stale.clone()
            } else {
                fresh.clone()
            }
        },
        stop,
    );
    (format!("{base}/monitor"), handle)
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

    // The treasury, as zk (with a debtor account under [treasury] in its client config, in
    // the same directory, so it shares the exports of the devnet's config): the open total
    // and what it owes each payee.
    let treasury = config.with_file_name("treasury.toml"); // beside it: key and genesis paths are relative
    std::fs::write(&treasury, std::fs::read_to_string(config).expect("the client config") + TREASURY).expect("write treasury.toml");
    let zk = Dashboard::start(&treasury, "zk");
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

    // /size follows the log stream: an attestation by nza adds a leaf, and the page shows it.
    assert!(nza.says("live: following the log of https://", START_DEADLINE), "the dashboard follows the log stream");
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

    // Last, as they add to the log: the treasury's payment form, and --allow-remote.
    check_the_payment_form(config, &zk, &dump, profile.path());
    check_allow_remote(config);
    eprintln!("dashboard browser test took {:?}; screenshots in {}", started.elapsed(), artefacts.display());
}

/// Issue 16: the treasury's payment form makes, through `export sepa`'s own function, the
/// file `export sepa` makes, and remembers it as pending; only the dashboard's own pages may
/// post it.
fn check_the_payment_form(config: &Path, zk: &Dashboard, dump: &dyn Fn(&str) -> String, profile: &Path) {
    let exports = config.with_file_name("exports").join("zk");
    let remembered = || {
        let records = std::fs::read_dir(&exports).map(|dir| {
            dir.filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().extension().is_some_and(|extension| extension == "json")))
                .count()
        });
        records.unwrap_or(0)
    };
    let (_, page) = zk.get("/treasury?insurer=zk");
    assert!(page.contains("value=\"NL91ABNA0417164300\""), "the form starts with [treasury]'s debtor account: {page}");
    assert_eq!(amount(&page, "pending-total"), Amount::ZERO);
    // An empty debtor field is not given: [treasury]'s account is used, as by 'export sepa'.
    let form = "insurer=zk&debtor_name=&debtor_iban=&execution_date=2099-01-02";

    // Making a file is a POST, from this dashboard's own pages only.
    assert_eq!(zk.get(PAYMENT_FILE).0, 405, "a GET (a prefetch, a link) makes no file");
    assert_eq!(zk.request("POST", "/treasury", &[], "").0, 405, "the pages are GET only");
    // DNS rebinding: a page that reaches the dashboard under a name of its own reads nothing.
    let port = zk.base.rsplit(':').next().expect("a port");
    let (status, _, body) = zk.request("GET", "/treasury", &[("Host", &format!("rebound.example:{port}"))], "");
    assert_eq!(status, 421, "another name as Host is refused: {body}");
    assert!(!body.contains("<table"), "and shows nothing: {body}");
    assert_eq!(zk.request("GET", "/treasury", &[("Host", &format!("localhost:{port}"))], "").0, 200, "localhost is its own name");
    for foreign in [("Origin", "http://evil.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site")] {
        let (status, _, body) = zk.post(form, &[foreign]);
        assert_eq!(status, 403, "{foreign:?}: {body}");
        assert!(body.contains("refused"), "{body}");
    }
    // A real browser on another page (another origin) that posts the form is refused too.
    // (Were it accepted, the answer would be a download, which --dump-dom waits for in vain:
    // the browser's deadline would fail the test.)
    let stop = Arc::new(AtomicBool::new(false));
    let target = zk.url(PAYMENT_FILE);
    let attack = format!(
        "<!DOCTYPE html><form method=\"post\" action=\"{target}\"><input name=\"insurer\" value=\"zk\">\
         <input name=\"execution_date\" value=\"2099-01-02\"></form><script>document.forms[0].submit()</script>"
    );
    let (elsewhere, server) = page_server(move |_| attack.clone(), stop.clone());
    let dom = browser(profile, &["--virtual-time-budget=5000".to_string(), "--dump-dom".to_string()], &format!("{elsewhere}/"));
    stop.store(true, Ordering::Relaxed);
    server.join().expect("the other site's server");
    assert!(dom.contains("refused: this request comes from http://127.0.0.1:"), "the browser's cross-site POST is refused: {dom}");
    let (status, body) = zk.get("/treasury?insurer=zk");
    assert_eq!(remembered(), 0, "a refused POST remembers no export");
    assert!(status == 200 && body.contains("data-id=\"pending-total\">0.00<"), "{body}");

    // What `export sepa` makes of this ledger, forgotten again as the page says (its record removed).
    let treasury = config.with_file_name("treasury.toml");
    let reference = cli(&treasury, &["export", "sepa", "--insurer", "zk", "--execution-date", "2099-01-02", "--msg-id", "FS-zk-reference"]);
    std::fs::remove_file(exports.join("FS-zk-reference.json")).expect("export sepa remembered its file");

    // The form as a browser on the page posts it: the same transfers, remembered as pending.
    let own = [("Origin", zk.base.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let (status, head, xml) = zk.post(form, &own);
    assert_eq!(status, 200, "{xml}");
    assert!(head.to_ascii_lowercase().contains("content-disposition: attachment"), "{head}");
    for tag in ["CtrlSum", "InstdAmt", "IBAN", "Ustrd", "Dt"] {
        assert_eq!(texts(&xml, tag), texts(&reference, tag), "<{tag}> as 'export sepa' makes it");
    }
    assert!(xml.contains("<Nm>Zilveren Kruis</Nm>"), "the debtor of [treasury]");
    let message_id = texts(&xml, "MsgId")[0].clone();
    let total: Amount = texts(&xml, "CtrlSum")[0].parse().expect("a total");
    assert_eq!(remembered(), 1, "the file is remembered as pending");
    let dom = dump(&zk.url("/treasury?insurer=zk"));
    assert_eq!(figure(&dom, &format!("pending:{message_id}")), message_id, "the page lists the pending file");
    assert_eq!(amount(&dom, &format!("pending:{message_id}:total")), total);
    assert_eq!(amount(&dom, "pending-total"), total);
    assert_eq!(amount(&dom, "unexported-total"), amount(&dom, "open-total") - total);
    // A download the browser lost can be had again, byte for byte, until the file is recorded.
    let again = zk.get(&format!("/download/pending.xml?insurer=zk&message_id={message_id}"));
    assert_eq!(again, (200, xml.clone()), "the pending file again");
    assert!(dom.contains(&format!("data-id=\"again:{message_id}\"")), "the page links it");
    assert_eq!(zk.get("/download/pending.xml?insurer=zk&message_id=..%2F..%2Fclient").0, 400, "only names of exports");
    assert_eq!(zk.get("/download/pending.xml?insurer=zk&message_id=FS-zk-none").0, 404);
    // No page or file may be framed by another site (a framed form is one click from a POST).
    for path in ["/treasury", &format!("/download/pending.xml?insurer=zk&message_id={message_id}")] {
        let (_, head, _) = zk.request("GET", path, &[], "");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("x-frame-options: deny") && head.contains("frame-ancestors 'none'"), "{path}: {head}");
    }

    // A second POST leaves those obligations out: nothing is left to pay, and it says why.
    let (status, _, body) = zk.post(form, &own);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("nothing to pay") && body.contains(&format!("already in {message_id}")), "{body}");
    // So does 'export sepa': it is one list of pending exports.
    let output = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["export", "sepa", "--insurer", "zk", "--debtor-iban", "NL91ABNA0417164300", "--debtor-name", "ZK"])
        .args(["--execution-date", "2099-01-02"])
        .output()
        .expect("run fairshare export sepa");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains(&format!("already in {message_id}")), "{stderr}");

    // Recorded on the ledger under the file's payment id (by hand here, so this client's
    // record of the export stays): the page lists it no more.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(exports.join(format!("{message_id}.json"))).expect("the export's record"))
            .expect("JSON");
    let settlements: Vec<String> = record["settlements"]
        .as_object()
        .expect("settlements")
        .iter()
        .map(|(obligation, amount)| format!("{obligation}={}", amount.as_str().expect("an amount")))
        .collect();
    let payment_id = message_id.to_lowercase();
    let mut pay = vec!["--as", "zk", "pay", "--id", &payment_id, "--value-date", "2099-01-02", "--reference", &message_id];
    pay.extend(settlements.iter().map(String::as_str));
    cli(config, &pay);
    wait_until("the treasury page to see the payment", CONVERGE_DEADLINE, || {
        let (status, body) = zk.get("/treasury?insurer=zk");
        (status == 200 && !body.contains(&format!("data-id=\"pending:{message_id}\""))).then_some(())
    });
    assert_eq!(remembered(), 1, "showing a page changes nothing; the next export forgets the record");
}

/// With --allow-remote a dashboard serves on a non-loopback address, and says on stderr
/// what that shares.
fn check_allow_remote(config: &Path) {
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["--as", "zk", "dashboard", "--listen", "0.0.0.0:0", "--allow-remote"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fairshare dashboard");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stdout).lines().next();
        let _ = sender.send(line);
    });
    let started = receiver.recv_timeout(START_DEADLINE);
    // The address it prints is one it answers at (0.0.0.0 is not: by IP address or localhost).
    let port = match &started {
        Ok(Some(Ok(line))) => line.split("http://localhost:").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_string),
        _ => None,
    };
    let answer = port.as_ref().map(|port| {
        let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to the dashboard");
        stream.set_read_timeout(Some(HTTP_DEADLINE)).expect("a read timeout");
        write!(stream, "GET /size HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n").expect("send a request");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    });
    let _ = child.kill();
    let output = child.wait_with_output().expect("the dashboard's stderr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(port.is_some(), "it serves at http://localhost:PORT/: {started:?} {stderr}");
    assert!(answer.as_deref().is_some_and(|answer| !answer.contains(" 421 ")), "the printed address answers: {answer:?}");
    assert!(stderr.contains("warning: serving on 0.0.0.0:") && stderr.contains("pain.001"), "{stderr}");
}

#[test]
fn a_dashboard_on_a_non_loopback_address_is_refused_without_allow_remote() {
    // No devnet: the address is refused before the client config is read or a node asked.
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(dir.path().join("client.toml"))
        .args(["--as", "zk", "dashboard", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fairshare dashboard");
    let status = wait_until("the dashboard to exit", START_DEADLINE, || child.try_wait().expect("wait for the dashboard"));
    let output = child.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success(), "it must not start: {stderr}");
    assert!(stderr.contains("refusing to serve on 0.0.0.0:0") && stderr.contains("--allow-remote"), "{stderr}");
    assert!(output.stdout.is_empty(), "it never said it serves: {}", String::from_utf8_lossy(&output.stdout));
}
