//! End-to-end tests: a real `schoolgate serve` process on free ports, driven over HTTP
//! with a real client, and by the CLI.

mod browser;
mod cli;
mod filtering;
mod incidents;
mod monitoring;
mod proxy;
mod registers;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use testkit::server::{Server, ServerOptions};
use totp_rs::{Algorithm, Secret, TOTP};

pub const BIN: &str = env!("CARGO_BIN_EXE_schoolgate");

/// Runs a one-off command on a data directory: exit code, standard output, standard error.
pub fn run(args: &[&str], data: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run schoolgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The emails that are not the daily digest or weekly summary: a test server with a mail
/// server sends the digest as soon as it starts after the digest time, which tests about
/// alert and incident emails must not count.
pub fn not_digests(mails: Vec<testkit::smtp::Received>) -> Vec<testkit::smtp::Received> {
    mails
        .into_iter()
        .filter(|m| !m.data.contains("Online safety digest for") && !m.data.contains("Weekly online safety summary"))
        .collect()
}

/// A file under `tests/data`.
pub fn fixture(name: &str) -> String {
    format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A config that makes the lock-outs quick enough to test.
pub const FAST: &str = r#"
[console]
idle_timeout = "3s"
session_lifetime = "1h"

[console.sign_in]
max_failures = 10
window = "5m"
slow_after = 3
slow_step = "10ms"
"#;

pub fn demo(config: Option<&str>) -> Server {
    Server::start(
        BIN,
        ServerOptions {
            demo: true,
            config: config.map(str::to_owned),
            ..ServerOptions::default()
        },
    )
}

/// A browser-like HTTP client: keeps cookies, does not follow redirects.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Client {
            http,
            base: base.to_owned(),
        }
    }

    async fn page(r: reqwest::Response) -> Page {
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.expect("body");
        Page { status, location, body }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.http.get(format!("{}{path}", self.base)).send().await.expect("GET")).await
    }

    /// The CSRF token from a page's forms.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        hidden(&page.body, "csrf").unwrap_or_else(|| panic!("no csrf field on {path}: {}", page.body))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(format!("{}{path}", self.base))
                .form(form)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn post_with(&self, path: &str, form: &[(&str, &str)], header: (&str, &str)) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header.0, header.1)
            .form(form)
            .send()
            .await
            .expect("POST");
        Self::page(r).await
    }

    /// Uploads a file as a form's `file` field, with the CSRF token in the query.
    pub async fn upload(&self, path: &str, csrf: &str, name: &str, bytes: Vec<u8>) -> Page {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        Self::page(
            self.http
                .post(format!("{}{path}?csrf={csrf}", self.base))
                .multipart(form)
                .send()
                .await
                .expect("upload"),
        )
        .await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Page {
        let csrf = self.csrf("/sign-in").await;
        self.post(
            "/sign-in",
            &[("csrf", &csrf), ("username", username), ("password", password)],
        )
        .await
    }
}

/// The value of a hidden input or a `<code id=…>` on a page.
pub fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    Some(body[start..].split('"').next()?.to_owned())
}

pub fn element_text(body: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let start = body.find(&marker)? + marker.len();
    Some(body[start..].split('<').next()?.trim().to_owned())
}

pub fn totp_now(secret: &str) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().expect("base32 secret");
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).expect("totp");
    totp.generate_current().expect("clock")
}

#[tokio::test]
async fn a_teacher_signs_in_and_sees_the_dashboard() {
    let server = demo(None);
    let c = Client::new(&server.url);
    let r = c.sign_in("mbell", &server.demo_password("mbell")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some("/dashboard"),
        "a teacher needs no second factor by default"
    );
    let d = c.get("/dashboard").await;
    assert_eq!(d.status, StatusCode::OK);
    assert!(d.body.contains("Demo Primary School"));
    assert!(d.body.contains("<strong>Teacher</strong>"), "{}", d.body);
    for group in ["EYFS", "KS1", "KS2", "Staff", "Visitors"] {
        assert!(
            d.body.contains(&format!("<th scope=\"row\">{group}</th>")),
            "group {group} on the dashboard"
        );
    }
    let people = c.get("/people?q=year").await;
    assert_eq!(people.status, StatusCode::OK);
    let all = c.get("/people").await;
    assert!(
        all.body.contains("75 people"),
        "63 pupils, 10 staff, 2 governors: {}",
        &all.body[..all.body.len().min(3000)]
    );
    let search = c.get("/people?q=marsh").await;
    assert!(
        search.body.contains("Helen Marsh") && search.body.contains("1 person"),
        "{}",
        search.body
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_saying_which_part_was_wrong() {
    let server = demo(None);
    let c = Client::new(&server.url);
    let wrong = c.sign_in("mbell", "not-the-password").await;
    let unknown = c.sign_in("nobody", "not-the-password").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("The username or password is not right."));
    }
    assert_eq!(
        c.get("/dashboard").await.status,
        StatusCode::SEE_OTHER,
        "still signed out"
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let server = demo(None);
    let c = Client::new(&server.url);
    let password = server.demo_password("mbell");
    let token = c.csrf("/sign-in").await;
    let no_token = c
        .post("/sign-in", &[("username", "mbell"), ("password", &password)])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("That form could not be accepted"));
    let wrong = c
        .post(
            "/sign-in",
            &[
                ("csrf", "forged-forged-forged-forged-forged-1234"),
                ("username", "mbell"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross_site = c
        .post_with(
            "/sign-in",
            &[("csrf", &token), ("username", "mbell"), ("password", &password)],
            ("Origin", "http://evil.example"),
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    // A fresh client has no CSRF cookie at all: a token copied from elsewhere does not help.
    let stranger = Client::new(&server.url);
    let r = stranger
        .post(
            "/sign-in",
            &[("csrf", &token), ("username", "mbell"), ("password", &password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Signed in, the sign-out form is protected too.
    assert_eq!(c.sign_in("mbell", &password).await.status, StatusCode::SEE_OTHER);
    assert_eq!(c.post("/sign-out", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(c.get("/dashboard").await.status, StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn an_idle_session_locks_and_returns_to_the_page_after_signing_in() {
    let server = demo(Some(FAST));
    let c = Client::new(&server.url);
    let password = server.demo_password("mbell");
    c.sign_in("mbell", &password).await;
    assert_eq!(c.get("/people?q=oak").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let locked = c.get("/people?q=oak").await;
    assert_eq!(locked.status, StatusCode::SEE_OTHER);
    let to = locked.location.expect("redirect");
    assert!(to.starts_with("/sign-in?reason=idle&next=%2Fpeople%3Fq%3Doak"), "{to}");
    let notice = c.get(&to).await;
    assert!(
        notice
            .body
            .contains("You were signed out after 1 minute without activity"),
        "{}",
        notice.body
    );
    let next = hidden(&notice.body, "next").expect("next kept");
    let csrf = hidden(&notice.body, "csrf").expect("csrf");
    let back = c
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("username", "mbell"),
                ("password", &password),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(back.location.as_deref(), Some("/people?q=oak"), "back where they were");
}

#[tokio::test]
async fn ten_failed_sign_ins_lock_the_account_even_against_the_right_password() {
    let server = demo(Some(FAST));
    let c = Client::new(&server.url);
    for i in 0..10 {
        let r = c.sign_in("mbell", &format!("wrong-{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = c.sign_in("mbell", &server.demo_password("mbell")).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "DFE-CS-04: the 11th guess in 5 minutes is refused"
    );
    assert!(r.body.contains("Too many failed attempts"));
    // Another account is not affected.
    assert_eq!(
        c.sign_in("akowalczyk", &server.demo_password("akowalczyk"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    let store = store::Store::open(&store::Database::Sqlite(server.data_dir().join("schoolgate.db")))
        .await
        .expect("open");
    let school = store.schools().await.expect("schools")[0].id;
    let entries = store.audit_entries(school, 0, 10_000).await.expect("audit");
    let failed = entries
        .iter()
        .filter(|e| e.action == "sign_in.failed" && e.details.contains("mbell"))
        .count();
    assert_eq!(failed, 10, "every failed sign-in is audited");
    assert!(
        entries.iter().any(|e| e.action == "sign_in.locked"),
        "the lock is audited"
    );
    assert!(
        entries.iter().all(|e| !e.details.contains("wrong-")),
        "attempted passwords never reach the log"
    );
    store.close().await;
}

#[tokio::test]
async fn the_headteacher_sets_up_security_codes_then_signs_in_with_a_recovery_code() {
    let server = demo(None);
    let c = Client::new(&server.url);
    let password = server.demo_password("hmarsh");
    let r = c.sign_in("hmarsh", &password).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/sign-in/enrol"),
        "DFE-CS-05: safeguarding roles need a second factor"
    );
    assert_eq!(
        c.get("/dashboard").await.location.as_deref(),
        Some("/sign-in/enrol"),
        "no way round it"
    );
    let enrol = c.get("/sign-in/enrol").await;
    let secret = element_text(&enrol.body, "totp-secret").expect("secret shown");
    let csrf = hidden(&enrol.body, "csrf").expect("csrf");
    let bad = c
        .post(
            "/sign-in/enrol",
            &[("csrf", &csrf), ("secret", &secret), ("code", "000000")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = c
        .post(
            "/sign-in/enrol",
            &[("csrf", &csrf), ("secret", &secret), ("code", &totp_now(&secret))],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes: Vec<String> = done
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10);
    let d = c.get("/dashboard").await;
    assert!(
        d.body.contains("Headteacher") && d.body.contains("Recovery codes left: 10"),
        "{}",
        d.body
    );

    let csrf = c.csrf("/dashboard").await;
    assert_eq!(
        c.post("/sign-out", &[("csrf", &csrf)]).await.location.as_deref(),
        Some("/sign-in?reason=bye")
    );
    assert_eq!(c.get("/dashboard").await.status, StatusCode::SEE_OTHER);

    let r = c.sign_in("hmarsh", &password).await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/second-factor"));
    let csrf = c.csrf("/sign-in/second-factor").await;
    let wrong = c
        .post("/sign-in/second-factor", &[("csrf", &csrf), ("code", "123456")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = c
        .post(
            "/sign-in/second-factor",
            &[("csrf", &csrf), ("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/dashboard"), "{}", ok.body);
    assert!(c.get("/dashboard").await.body.contains("Recovery codes left: 9"));

    // A recovery code works once.
    let c2 = Client::new(&server.url);
    c2.sign_in("hmarsh", &password).await;
    let csrf = c2.csrf("/sign-in/second-factor").await;
    assert_eq!(
        c2.post("/sign-in/second-factor", &[("csrf", &csrf), ("code", &codes[0])])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reset_password_must_be_changed_at_first_sign_in_and_weak_ones_are_refused() {
    let server = demo(None);
    let out = std::process::Command::new(BIN)
        .args(["accounts", "reset-password", "mbell", "--data"])
        .arg(server.data_dir())
        .output()
        .expect("reset-password");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let one_time = text
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("password printed")
        .to_owned();

    let c = Client::new(&server.url);
    let r = c.sign_in("mbell", &one_time).await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/new-password"));
    assert_eq!(
        c.get("/people").await.location.as_deref(),
        Some("/sign-in/new-password")
    );
    let csrf = c.csrf("/sign-in/new-password").await;
    for (pw, confirm, why) in [
        ("password123", "password123", "too easy to guess"),
        ("short", "short", "at least 10 characters"),
        ("Marcus-Bell-2026", "Marcus-Bell-2026", "marcus"),
        ("Tadpole-Lantern-Quarry-47", "Tadpole-Lantern-Quarry-48", "different"),
    ] {
        let r = c
            .post(
                "/sign-in/new-password",
                &[("csrf", &csrf), ("password", pw), ("confirm", confirm)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{pw}");
        assert!(
            r.body.to_lowercase().contains(why),
            "{pw}: expected {why:?} in {}",
            r.body
        );
    }
    let r = c
        .post(
            "/sign-in/new-password",
            &[
                ("csrf", &csrf),
                ("password", "Tadpole-Lantern-Quarry-47"),
                ("confirm", "Tadpole-Lantern-Quarry-47"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert_eq!(c.get("/people").await.status, StatusCode::OK);
    let again = Client::new(&server.url);
    assert_eq!(
        again
            .sign_in("mbell", "Tadpole-Lantern-Quarry-47")
            .await
            .location
            .as_deref(),
        Some("/dashboard")
    );
}

#[tokio::test]
async fn staff_without_the_permission_cannot_see_the_people_list() {
    let server = demo(None);
    let c = Client::new(&server.url);
    // The safeguarding governor has no people permission (and needs a second factor first).
    let r = c.sign_in("kasante", &server.demo_password("kasante")).await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/enrol"));
    let enrol = c.get("/sign-in/enrol").await;
    let secret = element_text(&enrol.body, "totp-secret").expect("secret");
    let csrf = hidden(&enrol.body, "csrf").expect("csrf");
    c.post(
        "/sign-in/enrol",
        &[("csrf", &csrf), ("secret", &secret), ("code", &totp_now(&secret))],
    )
    .await;
    let d = c.get("/dashboard").await;
    assert!(!d.body.contains("href=\"/people\""), "no People link for a governor");
    assert_eq!(c.get("/people").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn healthz_names_each_component() {
    let server = demo(None);
    let r = reqwest::get(format!("{}/healthz", server.url)).await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let json: serde_json::Value = r.json().await.expect("json");
    for c in ["console", "store", "filter"] {
        assert_eq!(json["components"][c]["up"], true, "{json}");
    }
    assert!(
        json["components"]["dns"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("listening on 127.0.0.1:"),
        "{json}"
    );
    let all_up = json["components"]
        .as_object()
        .expect("components")
        .values()
        .all(|c| c["up"] == true);
    assert_eq!(json["status"], if all_up { "ok" } else { "degraded" }, "{json}");
}

#[tokio::test]
async fn without_demo_an_empty_school_gets_a_one_time_setup_link() {
    let server = Server::start(BIN, ServerOptions::default());
    let link = server.setup_link().expect("setup link printed");
    let path = link.strip_prefix(&server.url).expect("link on the console").to_owned();
    let c = Client::new(&server.url);
    let page = c.get(&path).await;
    assert!(page.body.contains("Set up schoolgate for Our School"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("given_name", "Alex"),
        ("family_name", "Rivers"),
        ("email", "a.rivers@school.example"),
        ("role", "it_administrator"),
        ("username", "arivers"),
        ("password", "password1"),
        ("confirm", "password1"),
    ];
    let weak = c.post(&path, &form).await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body.contains("Alex"), "the form keeps what was typed");
    form[6] = ("password", "Saffron-Harbour-Kettle-19");
    form[7] = ("confirm", "Saffron-Harbour-Kettle-19");
    let made = c.post(&path, &form).await;
    assert_eq!(made.location.as_deref(), Some("/sign-in?reason=setup"), "{}", made.body);
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND, "the link works once");
    let r = c.sign_in("arivers", "Saffron-Harbour-Kettle-19").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/sign-in/enrol"),
        "administrators need a second factor"
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start_and_the_first_stops_cleanly() {
    let first = demo(None);
    let out = std::process::Command::new(BIN)
        .args(["serve", "--console", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--data"])
        .arg(first.data_dir())
        .output()
        .expect("second serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another schoolgate is already running on the data directory"),
        "{err}"
    );

    let (status, rest) = first.stop();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?} {rest:?}");
    assert!(rest.iter().any(|l| l == "schoolgate stopped."), "{rest:?}");
}

#[tokio::test]
async fn serve_runs_on_postgresql_with_the_same_behaviour() {
    let Some(db) = testkit::postgres("serve_runs_on_postgresql_with_the_same_behaviour").await else {
        return;
    };
    let server = Server::start(
        BIN,
        ServerOptions {
            demo: true,
            extra_args: vec!["--database".into(), db.url.clone()],
            ..ServerOptions::default()
        },
    );
    assert!(
        server.banner.iter().any(|l| l.contains("PostgreSQL")),
        "{:?}",
        server.banner
    );
    assert!(
        !server
            .banner
            .iter()
            .any(|l| l.contains(":***@") && l.contains("password")),
        "no password in the banner"
    );
    let c = Client::new(&server.url);
    assert_eq!(
        c.sign_in("mbell", &server.demo_password("mbell"))
            .await
            .location
            .as_deref(),
        Some("/dashboard")
    );
    assert!(c.get("/people").await.body.contains("75 people"));
    let out = std::process::Command::new(BIN)
        .args(["audit", "verify", "--database", &db.url, "--data"])
        .arg(server.data_dir())
        .output()
        .expect("verify");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("chain intact"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_answers_dns_with_the_filter_and_the_canary() {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};
    let server = demo(Some("[filter]\nreload_check = \"1s\"\n"));
    let dns_addr: std::net::SocketAddr = server
        .banner
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("DNS:")
                .and_then(|r| r.split("listening on ").nth(1))
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no DNS address in {:?}", server.banner));
    let data = server.data_dir().to_owned();
    let out = std::process::Command::new(BIN)
        .args([
            "lists",
            "import",
            &format!("{}/../../tests/data/ut1", env!("CARGO_MANIFEST_DIR")),
            "--as",
            "gpryce",
            "--data",
        ])
        .arg(&data)
        .output()
        .expect("import");
    assert!(out.status.success());
    let hate = std::fs::read_to_string(format!(
        "{}/../../tests/data/ut1/agressif/domains",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let hate = hate.lines().next().expect("a domain").to_owned();
    let ask = |name: String| async move {
        let mut q = Message::query();
        q.metadata.id = 7;
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(
            Name::from_ascii(format!("{name}.")).expect("name"),
            RecordType::A,
        ));
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        s.send_to(&q.to_vec().expect("encode"), dns_addr).await.expect("send");
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(5), s.recv_from(&mut buf))
            .await
            .expect("answer")
            .expect("recv");
        Message::from_vec(&buf[..n]).expect("decode")
    };
    let canary = ask("use-application-dns.net".into()).await;
    assert_eq!(canary.metadata.response_code, ResponseCode::NXDomain);
    // The running server picks the imported lists up within its reload check.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = ask(format!("www.{hate}")).await;
        let blocked = r
            .answers
            .iter()
            .any(|a| matches!(&a.data, RData::A(ip) if ip.0 == std::net::Ipv4Addr::LOCALHOST));
        if blocked {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not blocked: {r:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // Every answer is in the filter log, with who asked from where (DFE-FM-3.11).
    let c = filtering::filter_manager_client(&server).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = c.get(&format!("/logs?verdict=block&name={hate}")).await;
        assert_eq!(page.status, StatusCode::OK);
        if page.body.contains(&format!("www.{hate}")) {
            assert!(
                page.body.contains("127.0.0.1") && page.body.contains("Discrimination and hate"),
                "{}",
                page.body
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the blocked question is not in the log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let canary = c.get("/logs?name=use-application-dns").await;
    assert!(canary.body.contains("DoH canary"), "{}", canary.body);
    // An app retrying a blocked name is one row that says how often it asked.
    for _ in 0..6 {
        ask(format!("retry.{hate}")).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = c.get(&format!("/logs?name=retry.{hate}")).await;
        if page.body.contains("times</small>") {
            assert!(page.body.contains("class=\"repeats\""), "{}", page.body);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let teacher = Client::new(&server.url);
    teacher.sign_in("mbell", &server.demo_password("mbell")).await;
    assert_eq!(
        teacher.get("/logs").await.status,
        StatusCode::FORBIDDEN,
        "a teacher cannot read what pupils did"
    );
}

#[tokio::test]
async fn second_factor_guesses_stay_counted_when_the_password_is_entered_again() {
    let server = demo(Some(FAST));
    let password = server.demo_password("hmarsh");
    let c = Client::new(&server.url);
    c.sign_in("hmarsh", &password).await;
    let enrol = c.get("/sign-in/enrol").await;
    let secret = element_text(&enrol.body, "totp-secret").expect("secret");
    let csrf = hidden(&enrol.body, "csrf").expect("csrf");
    c.post(
        "/sign-in/enrol",
        &[("csrf", &csrf), ("secret", &secret), ("code", &totp_now(&secret))],
    )
    .await;

    // Someone with the password guesses codes, signing in again whenever they like.
    let thief = Client::new(&server.url);
    let mut locked = false;
    for round in 0..4 {
        assert_eq!(
            thief.sign_in("hmarsh", &password).await.location.as_deref(),
            Some("/sign-in/second-factor")
        );
        let csrf = thief.csrf("/sign-in/second-factor").await;
        for i in 0..5 {
            let r = thief
                .post(
                    "/sign-in/second-factor",
                    &[("csrf", &csrf), ("code", &format!("{:06}", round * 5 + i))],
                )
                .await;
            if r.status == StatusCode::SEE_OTHER && r.location.as_deref() == Some("/sign-in?reason=signed_out") {
                locked = true;
                break;
            }
        }
        if locked {
            break;
        }
    }
    assert!(
        locked,
        "the eleventh guess is refused even though the password was entered again in between"
    );
}

#[tokio::test]
async fn a_burst_of_simultaneous_guesses_cannot_get_past_the_limit() {
    let server = demo(Some(FAST));
    let c = std::sync::Arc::new(Client::new(&server.url));
    let csrf = c.csrf("/sign-in").await;
    let mut tasks = Vec::new();
    for i in 0..25 {
        let (c, csrf) = (c.clone(), csrf.clone());
        tasks.push(tokio::spawn(async move {
            c.post(
                "/sign-in",
                &[
                    ("csrf", &csrf),
                    ("username", "mbell"),
                    ("password", &format!("guess-{i}")),
                ],
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("request"));
    }
    let tried = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(
        tried <= 10,
        "at most 10 guesses are checked (DFE-CS-04): {tried} were, {refused} refused"
    );
    assert_eq!(tried + refused, 25);
}

#[tokio::test]
async fn a_taken_dns_port_leaves_the_console_running_and_says_so() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let server = Server::start(
        BIN,
        ServerOptions {
            demo: true,
            dns: Some(addr),
            ..ServerOptions::default()
        },
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("DNS:") && l.contains("not running")),
        "{:?}",
        server.banner
    );
    let json: serde_json::Value = reqwest::get(format!("{}/healthz", server.url))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(json["components"]["dns"]["up"], false, "{json}");
    assert_eq!(json["status"], "degraded");
    assert_eq!(
        Client::new(&server.url)
            .sign_in("mbell", &server.demo_password("mbell"))
            .await
            .location
            .as_deref(),
        Some("/dashboard")
    );
}
