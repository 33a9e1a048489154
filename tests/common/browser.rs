//! A real browser for end-to-end tests: Debian's chromium, headless,
//! driven through chromedriver by fantoccini. Screenshots go to
//! `target/screenshots/`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless chromium driven over WebDriver; chromedriver is ours to stop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
}

impl Browser {
    pub async fn start() -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: install the Debian packages chromium and chromium-driver (scripts/test.sh does)"
        );
        let port = free_port();
        // Its own process group, so the chromium it starts goes down with it.
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                // Tests may run as root (no sandbox then) and without a display.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1400", "--lang=en-US"],
                "binary": "/usr/bin/chromium",
            }),
        );
        // fantoccini's and reqwest's rustls features enable two crypto
        // providers; rustls then wants one chosen explicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            shots,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        // WebDriver's clear() leaves an invalid type=url value in place in
        // chromium; emptying it by script works for every input.
        let element = serde_json::to_value(&field).unwrap();
        self.client
            .execute("arguments[0].value = '';", vec![element])
            .await
            .unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn value(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Asks `probe` every 100 ms until it answers `Ok`; after 15 s fails
    /// with its last `Err` (what the page showed instead).
    async fn poll<T, F, Fut>(mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match probe().await {
                Ok(found) => return found,
                Err(last) => assert!(Instant::now() < deadline, "{last}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the page to show `needle` (navigation through the IdP's
    /// auto-posting form takes a moment).
    pub async fn wait_for_text(&self, needle: &str) -> String {
        Self::poll(|| async {
            let body = self.client.find(Locator::Css("body")).await;
            match body {
                Ok(body) => match body.text().await {
                    Ok(text) if text.contains(needle) => Ok(text),
                    Ok(text) => Err(format!("page never showed {needle:?}; it shows:\n{text}")),
                    Err(e) => Err(format!("page never showed {needle:?}: {e}")),
                },
                Err(e) => Err(format!("page never showed {needle:?}: {e}")),
            }
        })
        .await
    }

    /// Waits for the address bar to contain `needle`: a GET form's submit
    /// may return before the new page loads, and the old page can already
    /// hold the text the test looks for.
    pub async fn wait_for_path(&self, needle: &str) {
        Self::poll(|| async {
            let path = self.path().await;
            match path.contains(needle) {
                true => Ok(()),
                false => Err(format!(
                    "the address never contained {needle:?}; it is {path}"
                )),
            }
        })
        .await
    }

    /// Waits for an element: the page that holds it may still be loading.
    pub async fn wait_for_element(&self, css: &str) {
        Self::poll(|| async {
            self.client
                .find(Locator::Css(css))
                .await
                .map(drop)
                .map_err(|e| format!("the page never showed {css}: {e}"))
        })
        .await
    }

    /// Scrolls the element into view (for a screenshot of a lower card).
    pub async fn scroll_to(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        let element = serde_json::to_value(&element).unwrap();
        self.client
            .execute("arguments[0].scrollIntoView();", vec![element])
            .await
            .unwrap();
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    /// Also on a failed test: chromedriver and every chromium process it
    /// started (the whole process group).
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
