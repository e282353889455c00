//! A small WebDriver client for headless Chromium: starts `chromedriver` on a free loopback
//! port as a child process, opens one session, and speaks the W3C WebDriver HTTP API with the
//! plain HTTP/1.1 client of [`crate::web`].

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::web::request;

/// The Chromium binary of the Debian package.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The chromedriver binary of the Debian package.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why Chromium cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    [CHROMIUM, CHROMEDRIVER]
        .iter()
        .find(|path| !Path::new(path).exists())
        .map(|path| {
            format!("{path} is not installed (apt-get install -y chromium chromium-driver)")
        })
}

/// A running chromedriver with one headless Chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium.
    pub async fn start() -> anyhow::Result<Browser> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        browser.wait_ready().await?;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=900,1100",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        )])
        .collect::<Vec<_>>();
        let created = browser
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
                }}})),
            )
            .await?;
        browser.session = created["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        Ok(browser)
    }

    /// Waits until chromedriver answers `/status` as ready (it binds its port a moment after
    /// the process starts).
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(answer) = request(self.addr, "GET", "/status", &[], b"").await {
                let ready: Value = serde_json::from_str(&answer.body).unwrap_or_default();
                if ready["value"]["ready"] == true {
                    return Ok(());
                }
            }
            if let Some(status) = self.driver.try_wait()? {
                anyhow::bail!("chromedriver exited: {status}");
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "chromedriver not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let answer = request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json; charset=utf-8")],
            body.as_bytes(),
        )
        .await?;
        let value: Value = serde_json::from_str(&answer.body)
            .with_context(|| format!("{method} {path}: not JSON: {}", answer.body))?;
        anyhow::ensure!(
            answer.status == 200,
            "{method} {path}: {} {}",
            answer.status,
            value["value"]
        );
        Ok(value["value"].clone())
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", &self.at("/url"), Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// The element `css` selects.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .call(
                "POST",
                &self.at("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .with_context(|| format!("no element {css:?}"))?;
        Ok(found[ELEMENT]
            .as_str()
            .with_context(|| format!("no element id in {found}"))?
            .to_owned())
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/value")),
            Some(json!({"text": text})),
        )
        .await
        .map(|_| ())
    }

    /// Clicks the element `css` selects, which loads a new page, and waits until that page has
    /// replaced the old one and finished loading (at most 10 s). The driver's click may return
    /// before the navigation it starts; reading the old page then meets a stale element.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let old_body = self.find("body").await?;
        let element = self.find(css).await?;
        self.call(
            "POST",
            &self.at(&format!("/element/{element}/click")),
            Some(json!({})),
        )
        .await?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let replaced = match self.find("body").await {
                Ok(body) => body != old_body,
                Err(_) => false,
            };
            if replaced && self.ready_state().await.is_ok_and(|s| s == "complete") {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "clicking {css:?} loaded no new page within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The document's `readyState`, asked through the driver (the page itself has no script).
    async fn ready_state(&self) -> anyhow::Result<String> {
        let state = self
            .call(
                "POST",
                &self.at("/execute/sync"),
                Some(json!({"script": "return document.readyState", "args": []})),
            )
            .await?;
        Ok(state.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` in the page through the driver (the page itself carries no script; a
    /// driver's script is not bound by the page's CSP) and returns its value.
    pub async fn run_script(&self, script: &str) -> anyhow::Result<Value> {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The visible text of the page.
    pub async fn text(&self) -> anyhow::Result<String> {
        let body = self.find("body").await?;
        let text = self
            .call("GET", &self.at(&format!("/element/{body}/text")), None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The page's markup as the browser holds it.
    pub async fn source(&self) -> anyhow::Result<String> {
        let source = self.call("GET", &self.at("/source"), None).await?;
        Ok(source.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let shot = self.call("GET", &self.at("/screenshot"), None).await?;
        base64(shot.as_str().context("no screenshot")?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium with its driver: chromedriver takes its browsers down when it exits.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Decodes standard base64 (padding optional, whitespace ignored).
fn base64(text: &str) -> anyhow::Result<Vec<u8>> {
    let value = |c: u8| -> anyhow::Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            other => anyhow::bail!("not base64: {:?}", char::from(other)),
        }
        .into())
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Base64 decodes with and without padding, as chromedriver sends screenshots.
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(
            super::base64("iVBORw0KGgo=").unwrap()[..4],
            [0x89, b'P', b'N', b'G']
        );
    }
}
