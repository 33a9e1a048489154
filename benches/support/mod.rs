//! What the benchmark programs share: smoke/full mode, starting the real
//! gateway (and the peers) as separate processes on loopback, driving load
//! with `wrk`, and reading a process's resident memory.
#![allow(dead_code)] // each bench program uses its own part

pub mod open_loop;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` every
/// bench program runs as a quick smoke check (tiny counts, no peers, no wrk)
/// so the test suite does not get slower.
pub fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// A count from the environment, capped at `smoke_max` in smoke mode.
pub fn env_usize(name: &str, default: usize, smoke_max: usize) -> usize {
    let default = if smoke() {
        default.min(smoke_max)
    } else {
        default
    };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The machine line every report starts with.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{} cores ({cpu}), shared and noisy", cores())
}

/// Resident set size of a process, in KiB (Linux `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

pub async fn wait_http(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer within 60 s");
}

/// Which store a gateway runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// PostgreSQL for the benches: `SSO_GATEWAY_BENCH_POSTGRES_URL` (set by
/// scripts/bench.sh), else the test suite's `SSO_GATEWAY_TEST_POSTGRES_URL`.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("SSO_GATEWAY_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL"))
        .ok()
}

/// A real gateway process (release under `cargo bench`), its own data
/// folder, an organization and its admin token.
pub struct Gateway {
    pub base: String,
    pub token: String,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    /// The environment `serve` got, for CLI commands on the same database.
    pub env: Vec<(String, String)>,
    child: Child,
}

/// The gateway binary: this build's, or `BENCH_GATEWAY_BIN` (another
/// build's, to measure before and after with the same bench).
fn gateway_bin() -> String {
    std::env::var("BENCH_GATEWAY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_sso-gateway").to_string())
}

pub fn spawn_serve(dir: &std::path::Path, env: &[(String, String)]) -> Child {
    Command::new(gateway_bin())
        .arg("serve")
        .current_dir(dir)
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

impl Gateway {
    pub async fn start(backend: Backend, extra_env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let db_url = match backend {
            Backend::Sqlite => format!("sqlite://{}/data/gateway.db", dir.path().display()),
            Backend::Postgres => sso_gateway::store::create_scratch_database(
                &postgres_admin_url().expect("a PostgreSQL URL"),
            )
            .await
            .unwrap(),
        };
        let mut env: Vec<(String, String)> = vec![
            (
                "SSO_GATEWAY__SERVER__BIND".into(),
                format!("127.0.0.1:{port}"),
            ),
            ("SSO_GATEWAY__SERVER__PUBLIC_URL".into(), base.clone()),
            // BENCH_GATEWAY_LOG=info shows every request with its time.
            (
                "SSO_GATEWAY__SERVER__LOG_LEVEL".into(),
                std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
            ),
            ("SSO_GATEWAY__DATABASE__URL".into(), db_url.clone()),
            // A sync pushes far more than the default budget of 6000 a
            // minute; the budget is not what is measured here.
            (
                "SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE".into(),
                "100000000".into(),
            ),
        ];
        for (k, v) in extra_env {
            env.push((k.to_string(), v.to_string()));
        }
        let bin = gateway_bin();
        let out = Command::new(&bin)
            .args(["org", "create", "--name", "Bench", "--json"])
            .current_dir(dir.path())
            .envs(env.clone())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "org create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["admin_token"]
            .as_str()
            .unwrap()
            .to_string();
        let child = spawn_serve(dir.path(), &env);
        let gw = Gateway {
            base,
            token,
            db_url,
            dir,
            env,
            child,
        };
        wait_http(&http(), &format!("{}/healthz", gw.base)).await;
        gw
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the serving process, keeping its data (to start it again).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `serve` again on the same data and port, with `extra` on top of its
    /// environment; the caller owns (and stops) the process.
    pub fn serve_again(&self, extra: &[(&str, &str)]) -> Child {
        let mut env = self.env.clone();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        spawn_serve(self.dir.path(), &env)
    }

    /// A second instance on the same database, cache, data folder (its
    /// secret key) and public URL, on its own port: two instances behind
    /// one load balancer. Its `base` is where to reach it directly.
    pub async fn start_twin(&self) -> Gateway {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "SSO_GATEWAY__SERVER__BIND");
        env.push((
            "SSO_GATEWAY__SERVER__BIND".into(),
            format!("127.0.0.1:{port}"),
        ));
        let child = spawn_serve(self.dir.path(), &env);
        let twin = Gateway {
            base,
            token: self.token.clone(),
            db_url: self.db_url.clone(),
            dir: tempfile::tempdir().unwrap(),
            env,
            child,
        };
        wait_http(&http(), &format!("{}/healthz", twin.base)).await;
        twin
    }

    /// A platform API key (`api-key create --json`).
    pub fn api_key(&self) -> String {
        let out = Command::new(gateway_bin())
            .args(["api-key", "create", "--name", "Bench", "--json"])
            .current_dir(self.dir.path())
            .envs(self.env.clone())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "api-key create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A team whose pre-approved domains let people join by JIT.
    pub async fn add_team(&self, http: &reqwest::Client, name: &str, domains: &[&str]) {
        let res = http
            .post(self.api("/teams"))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "preapproved_domains": domains}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "team {name}: {}", res.status());
    }

    /// A SAML integration trusting the loopback test IdP's certificate.
    pub async fn okta_integration(
        &self,
        http: &reqwest::Client,
        cert_pem: &str,
        issuer: &str,
    ) -> Value {
        http.post(self.api("/integrations"))
            .bearer_auth(&self.token)
            .json(&json!({"kind": "okta", "sso_url": "https://idp.example.com/sso", "certificate_pem": cert_pem, "idp_entity_id": issuer}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Turns SCIM on for an integration: (tenant URL, token).
    pub async fn scim_tenant(
        &self,
        http: &reqwest::Client,
        integration_id: &str,
    ) -> (String, String) {
        let p: Value = http
            .post(self.api(&format!("/integrations/{integration_id}/provisioning")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            p["tenant_url"].as_str().unwrap().to_string(),
            p["token"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Any other server process the bench starts (a peer); killed on drop.
pub struct Process {
    pub child: Child,
    pub name: String,
}

impl Process {
    pub fn spawn(name: &str, mut cmd: Command) -> Process {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child,
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `wrk --latency` measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrkResult {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_2xx: u64,
}

fn parse_ms(v: &str) -> f64 {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

/// A wrk Lua script: `GET {path_prefix}/Users?filter=userName eq
/// "{name_prefix}<i>@example.com"` for a random i below `count`, seeded so
/// runs repeat.
pub fn user_filter_script(path_prefix: &str, name_prefix: &str, count: usize, seed: u32) -> String {
    format!(
        r#"math.randomseed({seed})
request = function()
  local i = math.random(0, {max})
  return wrk.format("GET", "{path_prefix}/Users?filter=userName%20eq%20%22{name_prefix}" .. i .. "%40example.com%22")
end
"#,
        max = count - 1
    )
}

/// Runs wrk (Debian's `wrk`, installed by scripts/bench.sh) from its own
/// process: GET `url` with `headers`, or what the Lua `script` makes.
/// Errors (non-2xx/3xx answers, socket errors) are counted and reported.
pub fn wrk(
    url: &str,
    headers: &[(&str, &str)],
    script: Option<&str>,
    connections: usize,
    seconds: u64,
) -> WrkResult {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        "1",
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
        "--latency",
    ]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let _script_file;
    if let Some(script) = script {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(script.as_bytes()).unwrap();
        cmd.args(["-s", f.path().to_str().unwrap()]);
        _script_file = f;
    }
    cmd.arg(url);
    let out = cmd
        .output()
        .expect("wrk is needed for full runs (scripts/bench.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = WrkResult::default();
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            r.requests_per_s = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = l.strip_prefix("50%") {
            r.p50_ms = parse_ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            r.p99_ms = parse_ms(v);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().unwrap_or(0);
        } else if l.contains("requests in") {
            r.requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    r
}

/// Percent-encodes a query value (wrk Lua scripts get it ready-made).
pub fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn ratio(ours: f64, peer: Option<f64>) -> String {
    match peer {
        Some(p) if p > 0.0 => format!("{:.1}×", ours / p),
        _ => "n/a".into(),
    }
}

/// What a [`Receiver`] path has seen.
#[derive(Default, Clone, Copy)]
pub struct PathCount {
    /// Requests answered 204.
    pub accepted: usize,
    pub first_accepted: Option<Instant>,
    pub last_accepted: Option<Instant>,
    /// Answer 503 + `Retry-After: 1` instead, while set.
    pub hold: bool,
}

type Paths = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, PathCount>>>;

/// A webhook receiver on loopback for throughput: HTTP/1.1 keep-alive,
/// counts requests per path, answers 204 (or 503 on a held path). It does
/// not verify signatures; tests/webhooks.rs does that with the reference
/// library.
pub struct Receiver {
    pub base: String,
    paths: Paths,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let paths = Paths::default();
        let shared = paths.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_receiver_connection(socket, shared.clone()));
            }
        });
        Receiver { base, paths }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hold(&self, path: &str, hold: bool) {
        self.paths
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .hold = hold;
    }

    pub fn count(&self, path: &str) -> PathCount {
        self.paths
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or_default()
    }

    /// Waits until `path` accepted `n` requests; false after `limit`.
    pub async fn wait_accepted(&self, path: &str, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.count(path).accepted < n {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

async fn serve_receiver_connection(mut socket: tokio::net::TcpStream, paths: Paths) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Answer every complete request buffered so far.
        while let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() < head_end + 4 + length {
                break;
            }
            buf.drain(..head_end + 4 + length);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let held = {
                let mut paths = paths.lock().unwrap();
                let count = paths.entry(path).or_default();
                if !count.hold {
                    let now = Instant::now();
                    count.accepted += 1;
                    count.first_accepted.get_or_insert(now);
                    count.last_accepted = Some(now);
                }
                count.hold
            };
            let answer: &[u8] = if held {
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 204 No Content\r\n\r\n"
            };
            if socket.write_all(answer).await.is_err() {
                return;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// POSTs every form body to `url` from `concurrency` tasks; each answer
/// must have `expect` status. Returns (rate/s, p50 ms, p99 ms).
pub async fn post_forms(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    concurrency: usize,
    expect: u16,
) -> (f64, f64, f64) {
    let forms = bodies.into_iter().map(|b| (url.to_string(), b)).collect();
    post_forms_to(http, forms, concurrency, expect).await
}

/// [`post_forms`] where each body has its own URL: (url, body).
pub async fn post_forms_to(
    http: &reqwest::Client,
    forms: Vec<(String, String)>,
    concurrency: usize,
    expect: u16,
) -> (f64, f64, f64) {
    let http = http.clone();
    drive(forms, concurrency, move |(url, body): (String, String)| {
        let http = http.clone();
        async move {
            let res = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert_eq!(status, expect, "{url}: {}", res.text().await.unwrap());
        }
    })
    .await
}

/// Runs `request(item)` for every item from `concurrency` tasks, each
/// taking the next item once its last request is done. Returns the
/// (rate/s, p50 ms, p99 ms) of the requests.
pub async fn drive<T, F, Fut>(items: Vec<T>, concurrency: usize, request: F) -> (f64, f64, f64)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let n = items.len();
    let items = std::sync::Arc::new(tokio::sync::Mutex::new(items));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (items, request) = (items.clone(), request.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    // Not `while let`: its guard would hold the lock for the whole request.
                    let next = items.lock().await.pop();
                    let Some(item) = next else {
                        break;
                    };
                    let t = Instant::now();
                    request(item).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    assert_eq!(latencies.len(), n);
    rate_p50_p99(latencies, started.elapsed())
}

/// The session cookie (`name=value`) a sign-in's answer sets.
pub fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sso_gateway_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Runs `make(i)` for i in 0..n on every core (signing many responses).
pub fn parallel<T: Send + 'static>(
    n: usize,
    make: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let make = std::sync::Arc::new(make);
    let threads = cores();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let make = make.clone();
            std::thread::spawn(move || (t..n).step_by(threads).map(|i| make(i)).collect::<Vec<T>>())
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// A wrk Lua script that sends one of `requests` — (path, header name,
/// header value) — at random per request, seeded so runs repeat.
pub fn request_mix_script(requests: &[(String, &str, String)], seed: u32) -> String {
    let lua = |s: &str| format!("{s:?}"); // Rust's escaping is valid Lua for these ASCII strings
    let entries: Vec<String> = requests
        .iter()
        .map(|(path, name, value)| format!("{{{}, {}, {}}}", lua(path), lua(name), lua(value)))
        .collect();
    format!(
        r#"math.randomseed({seed})
local requests = {{ {} }}
request = function()
  local r = requests[math.random(#requests)]
  return wrk.format("GET", r[1], {{[r[2]] = r[3]}})
end
"#,
        entries.join(",\n")
    )
}

/// Requests per second over `elapsed`, and the p50 and p99 latency in ms,
/// of one load run's latencies.
pub fn rate_p50_p99(mut latencies: Vec<Duration>, elapsed: Duration) -> (f64, f64, f64) {
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    (
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    )
}
