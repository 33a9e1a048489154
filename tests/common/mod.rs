//! Black-box harness: starts the real `sso-gateway` binary on a free
//! loopback port and talks HTTP to it.
//!
//! Backends follow the environment that `scripts/test.sh` sets: a fresh
//! PostgreSQL database per gateway when `SSO_GATEWAY_TEST_POSTGRES_URL` is
//! set (else an SQLite file in a temp dir), and Redis when
//! `SSO_GATEWAY_TEST_REDIS_URL` is set (else the in-process cache).
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod browser;
pub mod dns;
pub mod events;
pub mod idp;
pub mod op;
pub mod scim;
pub mod simplesaml;
pub mod xmlenc;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sso-gateway");

pub struct Gateway {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    child: Child,
    pub http: reqwest::Client,
    /// Whether the serving process's stderr goes to `stderr_log()`.
    capture_stderr: bool,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn database_url(dir: &Path) -> String {
    match std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL") {
        Ok(admin) => sso_gateway::store::create_scratch_database(&admin)
            .await
            .unwrap(),
        Err(_) => format!("sqlite://{}/data/gateway.db", dir.display()),
    }
}

pub fn cache_url() -> String {
    std::env::var("SSO_GATEWAY_TEST_REDIS_URL").unwrap_or_else(|_| "memory".into())
}

/// Whether several instances can share state here (PostgreSQL + Redis).
pub fn shared_backends() -> bool {
    std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL").is_ok()
        && std::env::var("SSO_GATEWAY_TEST_REDIS_URL").is_ok()
}

pub fn is_sqlite(gw: &Gateway) -> bool {
    gw.env
        .iter()
        .any(|(k, v)| k == "SSO_GATEWAY__DATABASE__URL" && v.starts_with("sqlite:"))
}

fn spawn_serve(dir: &Path, env: &[(String, String)], capture_stderr: bool) -> Child {
    let stderr = if capture_stderr {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(STDERR_LOG))
            .unwrap();
        Stdio::from(log)
    } else {
        Stdio::inherit()
    };
    Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

const STDERR_LOG: &str = "stderr.log";

/// Waits for `/healthz`; false if the process exited first (its port was
/// taken) or it never answered.
async fn wait_until_up(child: &mut Child, http: &reqwest::Client, base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Starts `serve` on a free port. A port found free can be taken by another
/// test before the gateway binds it; then the gateway exits and another
/// port is tried.
async fn serve_on_a_free_port(
    dir: &Path,
    mut env: Vec<(String, String)>,
    set_public_url: bool,
    capture_stderr: bool,
    http: &reqwest::Client,
) -> (Child, String, Vec<(String, String)>) {
    for _ in 0..5 {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        env.retain(|(k, _)| {
            k != "SSO_GATEWAY__SERVER__BIND"
                && !(set_public_url && k == "SSO_GATEWAY__SERVER__PUBLIC_URL")
        });
        env.push((
            "SSO_GATEWAY__SERVER__BIND".into(),
            format!("127.0.0.1:{port}"),
        ));
        if set_public_url {
            env.push(("SSO_GATEWAY__SERVER__PUBLIC_URL".into(), base.clone()));
        }
        let mut child = spawn_serve(dir, &env, capture_stderr);
        if wait_until_up(&mut child, http, &base).await {
            return (child, base, env);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("the gateway did not come up on any of 5 free ports");
}

impl Gateway {
    pub async fn start() -> Gateway {
        Self::start_with(&[]).await
    }

    /// Starts a gateway; `extra` env pairs override the defaults here.
    pub async fn start_with(extra: &[(&str, &str)]) -> Gateway {
        Self::start_inner(extra, false).await
    }

    /// Like `start_with`, with the process's stderr kept for `stderr_log()`.
    pub async fn start_capturing_stderr(extra: &[(&str, &str)]) -> Gateway {
        Self::start_inner(extra, true).await
    }

    async fn start_inner(extra: &[(&str, &str)], capture_stderr: bool) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("SSO_GATEWAY__SERVER__WORKERS".into(), "2".into()),
            (
                "SSO_GATEWAY__DATABASE__URL".into(),
                database_url(dir.path()).await,
            ),
            ("SSO_GATEWAY__CACHE__URL".into(), cache_url()),
            ("SSO_GATEWAY__SERVER__LOG_LEVEL".into(), "warn".into()),
            // The test IdP lives on loopback over plain http.
            (
                "SSO_GATEWAY__OUTBOUND__ALLOW_PRIVATE_ADDRESSES".into(),
                "true".into(),
            ),
            ("SSO_GATEWAY__OUTBOUND__ALLOW_HTTP".into(), "true".into()),
            (
                "SSO_GATEWAY__SECRETS__ENCRYPTION_KEY".into(),
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            ),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (child, base, env) =
            serve_on_a_free_port(dir.path(), env, true, capture_stderr, &http).await;
        Gateway {
            base,
            dir,
            env,
            child,
            http,
            capture_stderr,
        }
    }

    /// A second instance behind the same (imaginary) load balancer: same
    /// database, cache, public URL and secret key, its own port.
    pub async fn start_twin(&self) -> Gateway {
        let (child, base, env) = serve_on_a_free_port(
            self.dir.path(),
            self.env.clone(),
            false,
            self.capture_stderr,
            &self.http,
        )
        .await;
        Gateway {
            base,
            dir: tempfile::tempdir().unwrap(),
            env,
            child,
            http: self.http.clone(),
            capture_stderr: self.capture_stderr,
        }
    }

    async fn wait_until_up(&mut self) {
        assert!(
            wait_until_up(&mut self.child, &self.http, &self.base).await,
            "gateway did not come up on {}",
            self.base
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs a CLI command against the same configuration and database.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    }

    /// `org create --json`, returning (org id, admin token).
    pub fn create_org(&self, name: &str) -> (String, String) {
        let out = self.cli(&["org", "create", "--name", name, "--json"]);
        assert!(
            out.status.success(),
            "org create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            line["org_id"].as_str().unwrap().into(),
            line["admin_token"].as_str().unwrap().into(),
        )
    }

    /// `api-key create --json`, returning (key id, key).
    pub fn create_api_key(&self, name: &str) -> (String, String) {
        let out = self.cli(&["api-key", "create", "--name", name, "--json"]);
        assert!(
            out.status.success(),
            "api-key create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            line["id"].as_str().unwrap().into(),
            line["api_key"].as_str().unwrap().into(),
        )
    }

    /// What the process wrote to stderr so far (`start_capturing_stderr`).
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(STDERR_LOG)).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A browser: keeps cookies, does not follow redirects by itself.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn api(&self, token: &str) -> Api<'_> {
        Api {
            gw: self,
            token: token.to_string(),
        }
    }
}

impl Gateway {
    /// The serving process, for its memory figures.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, then the same instance (port, configuration, files) again.
    pub async fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn_serve(self.dir.path(), &self.env, self.capture_stderr);
        self.wait_until_up().await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the admin API holding one organization's token.
pub struct Api<'a> {
    gw: &'a Gateway,
    pub token: String,
}

impl Api<'_> {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .gw
            .http
            .request(method, self.gw.url(&format!("/api/v1{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Creates a team (201 required) and returns it.
    pub async fn add_team(&self, name: &str, domains: &[&str]) -> Value {
        let (status, team) = self
            .post(
                "/teams",
                serde_json::json!({"name": name, "preapproved_domains": domains}),
            )
            .await;
        assert_eq!(status, 201, "{team}");
        team
    }

    /// Creates an integration (201 required) and returns its view.
    pub async fn connect(&self, body: Value) -> Value {
        let (status, integration) = self.post("/integrations", body).await;
        assert_eq!(status, 201, "{integration}");
        integration
    }

    /// An Okta integration connected by the test IdP's metadata URL.
    pub async fn connect_okta(&self, idp: &idp::TestIdp) -> Value {
        self.connect(serde_json::json!({"kind": "okta", "metadata_url": idp.metadata_url()}))
            .await
    }
}
