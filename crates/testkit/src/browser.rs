//! A headless Chromium driven over WebDriver, when Debian's `chromium` and
//! `chromium-driver` are installed.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thirtyfour::{ChromiumLikeCapabilities, DesiredCapabilities, WebDriver};

/// A running chromedriver and a browser session; both end when this is dropped.
pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Browser")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

fn find(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Browser {
    /// Ends the session cleanly, so that Chromium quits before chromedriver is stopped.
    /// (Only dropping it leaves the WebDriver client's own clean-up waiting two minutes on a
    /// chromedriver that is gone, when the browser had a proxy connection open.)
    pub async fn close(self) {
        if let Err(e) = self.driver.clone().quit().await {
            eprintln!("the browser session did not end cleanly: {e}");
        }
    }

    /// Starts chromedriver and headless Chromium, or returns `None` (saying the test
    /// skipped) when they are not installed. `proxy` points the browser at a proxy.
    pub async fn start(test: &str, proxy: Option<&str>) -> Option<Browser> {
        let Some(chromedriver) = find(&["chromedriver"]) else {
            if super::services_required() {
                panic!("{test}: chromedriver is required (SCHOOLGATE_REQUIRE_SERVICES=1) but is not installed");
            }
            eprintln!("SKIPPED {test}: chromedriver is not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
        let port = super::free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start {chromedriver}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{test}: chromedriver did not start listening on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut caps = DesiredCapabilities::chrome();
        if let Some(bin) = chromium {
            caps.set_binary(&bin).expect("set the chromium binary");
        }
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if let Some(p) = proxy {
            args.push(format!("--proxy-server={p}"));
            args.push("--proxy-bypass-list=<-loopback>".to_owned());
        }
        for a in &args {
            caps.add_arg(a).expect("add a chromium argument");
        }
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot start a Chromium session: {e}"));
        Some(Browser {
            driver,
            chromedriver: child,
            _profile: profile,
        })
    }
}
