//! Monitoring in the real binary (issue 6): a search through the proxy, text sent to the
//! ingest API and a pupil's "Worried?" message become alerts; the DSL is emailed at once
//! for severity 4 and 5 (no names, no text), triages in the console; the daily digest goes
//! at its time, says plainly when there is nothing, and survives a mail server that is
//! down. Emails go to a real SMTP server (aiosmtpd) started by the test.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::smtp::{SinkAuth, SmtpSink};

use crate::filtering::sign_in_enrolled;
use crate::proxy::origin;
use crate::{demo, hidden, not_digests, run};

/// Sessions that outlast a test's waits for email.
const SESSIONS: &str = "[console]\nidle_timeout = \"10m\"\n";

fn mail_config(port: u16) -> String {
    format!(
        "\n[mail]\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"schoolgate@demo-primary.example\"\n\
         retry_secs = 1\ntimeout_secs = 5\n"
    )
}

/// A digest time that has always passed today, on every day, so a server sends the
/// digest as soon as it starts.
const DIGEST_NOW: &str = "\n[digest]\ntime = \"00:00\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nweekly_day = \"sunday\"\n";

async fn wait_until<F: Fn(&[testkit::smtp::Received]) -> bool>(
    sink: &SmtpSink,
    what: &str,
    ok: F,
) -> Vec<testkit::smtp::Received> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = sink.messages();
        if ok(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: got {:?}",
            got.iter()
                .map(|m| (&m.rcpt_tos, m.data.lines().find(|l| l.starts_with("Subject:"))))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn subject(m: &testkit::smtp::Received) -> String {
    m.data
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_risky_search_is_an_alert_emailed_to_the_dsl_team_and_triaged_in_the_console() {
    let Some(sink) = SmtpSink::start("risky_search", SinkAuth::None).await else {
        return;
    };
    let origin = origin().await;
    let server = demo(Some(&format!(
        "{SESSIONS}{}\n[proxy.hosts]\n\"www.ecosia.org\" = \"127.0.0.1\"\n\n[[proxy.open_subnets]]\nsubnet = \"127.0.0.0/8\"\ngroup = \"KS2\"\n",
        mail_config(sink.port)
    )));
    let proxy = server.listening("Proxy:");
    let browser = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy"))
        .build()
        .expect("client");
    let search = format!(
        "http://www.ecosia.org:{}/search?q=how+many+paracetamol+to+die+tonight",
        origin.port()
    );
    let r = browser.get(&search).send().await.expect("search");
    assert_eq!(r.status(), StatusCode::OK);

    // Severity 5: the DSL, the deputy and the headteacher are emailed at once, one message
    // each, with the severity, the category and a link, and nothing else.
    let got = not_digests(wait_until(&sink, "alert emails", |m| not_digests(m.to_vec()).len() >= 3).await);
    let mut to: Vec<&str> = got.iter().flat_map(|m| m.rcpt_tos.iter().map(String::as_str)).collect();
    to.sort_unstable();
    assert_eq!(
        to,
        [
            "dokoro@demo-primary.example",
            "hmarsh@demo-primary.example",
            "praman@demo-primary.example"
        ]
    );
    let m = &got[0];
    assert!(subject(m).contains("Severity 5 alert: Suicide"), "{}", m.data);
    assert!(m.data.contains("/monitor/alerts/"), "{}", m.data);
    for secret in ["paracetamol", "tonight", "KS2"] {
        assert!(
            !m.data.contains(secret),
            "the email must not carry {secret:?}: {}",
            m.data
        );
    }

    // The DSL sees it in the console, with the words highlighted, and dismisses a second
    // one as a false positive after noting the first.
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    let list = dsl.get("/monitor/alerts").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Suicide"), "{}", list.body);
    let id = list
        .body
        .split("href=\"/monitor/alerts/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an alert link")
        .to_owned();
    let page = dsl.get(&format!("/monitor/alerts/{id}")).await;
    assert!(
        page.body.contains("<mark>how many paracetamol to die</mark> tonight"),
        "{}",
        page.body
    );
    assert!(page.body.contains("(Suicide, en): severity 5"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let r = dsl
        .post(
            &format!("/monitor/alerts/{id}"),
            &[
                ("csrf", &csrf),
                ("action", "escalate"),
                ("note", "Spoke to the class teacher; incident opened."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Escalating opens a record in the online safety log, linked to the alert.
    let record = r.location.expect("to the new record");
    assert!(record.starts_with("/incidents/"), "{record}");
    let incident = dsl.get(&record).await;
    assert_eq!(incident.status, StatusCode::OK, "{}", incident.body);
    assert!(
        incident.body.contains(&format!("monitoring alert {id}")),
        "{}",
        incident.body
    );
    assert!(
        incident.body.contains("Self-harm or suicide content"),
        "{}",
        incident.body
    );
    let page = dsl.get(&format!("/monitor/alerts/{id}")).await;
    assert!(page.body.contains("escalated"), "{}", page.body);
    assert!(page.body.contains("Spoke to the class teacher"), "{}", page.body);

    // A teacher who may not see safeguarding records cannot open it.
    let teacher = sign_in_enrolled(&server, "mbell").await;
    assert_eq!(
        teacher.get(&format!("/monitor/alerts/{id}")).await.status,
        StatusCode::FORBIDDEN
    );

    // Reading alerts is in the audit log, which still verifies.
    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
    sink.stop().await;
}

#[tokio::test]
async fn other_systems_send_text_to_the_ingest_api_with_a_token() {
    let Some(sink) = SmtpSink::start("ingest_api", SinkAuth::None).await else {
        return;
    };
    let server = demo(Some(&format!("{SESSIONS}{}", mail_config(sink.port))));
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    let csrf = dsl.csrf("/monitor/settings").await;
    let made = dsl
        .post(
            "/monitor/settings",
            &[("csrf", &csrf), ("action", "create_token"), ("name", "School chat")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let token = made
        .body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the token is shown once")
        .to_owned();

    let api = format!("{}/api/v1/monitor/text", server.url);
    let http = reqwest::Client::new();
    let send = |body: String, token: &str| {
        http.post(&api)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // No token, a wrong token, no JSON, bad JSON, an unknown person, too big: clear 4xx JSON.
    let r = http
        .post(&api)
        .json(&serde_json::json!({"text": "hi"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let e: serde_json::Value = r.json().await.expect("json error");
    assert!(e["error"].as_str().expect("error").contains("Bearer"), "{e}");
    let r = send(r#"{"text": "hi"}"#.into(), "not-a-token").await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .post(&api)
        .bearer_auth(&token)
        .body("text=hi")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for (body, says) in [
        ("{\"text\": ", "not the JSON expected"),
        (r#"{"message": "hi"}"#, "unknown field"),
        (r#"{"text": "  "}"#, "empty"),
        (r#"{"text": "hi", "person": "nobody"}"#, "no person"),
        (r#"{"text": "hi", "at": "yesterday"}"#, "RFC 3339"),
    ] {
        let r = send(body.into(), &token).await.expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: serde_json::Value = r.json().await.expect("json error");
        assert!(e["error"].as_str().expect("error").contains(says), "{body}: {e}");
    }
    let big = serde_json::json!({ "text": "a ".repeat(40_000) }).to_string();
    let r = send(big, &token).await.expect("send");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Innocent text is accepted and raises nothing; a message about self-harm raises an
    // alert for the person named, folded when it comes again.
    let r = send(r#"{"text": "see you at the therapist in Scunthorpe"}"#.into(), &token)
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let ok: serde_json::Value = r.json().await.expect("json");
    assert!(ok["alert"].is_null(), "{ok}");
    let worrying = serde_json::json!({
        "text": "i keep wanting to cut myself again",
        "person": "mbell",
        "source": "chat",
        "at": "2026-11-02T10:15:00Z",
    })
    .to_string();
    let first: serde_json::Value = send(worrying.clone(), &token)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let again: serde_json::Value = send(worrying, &token).await.expect("send").json().await.expect("json");
    assert_eq!(first["alert"]["id"], again["alert"]["id"], "{first} {again}");
    assert_eq!(again["alert"]["folded"], true);
    let sev = first["alert"]["severity"].as_u64().expect("severity");
    assert!(sev >= 4, "{first}");

    // About a member of staff (mbell is a teacher in the demo school): only the
    // headteacher hears of it, and only the headteacher sees it.
    let got = not_digests(
        wait_until(&sink, "the headteacher's email", |m| {
            !not_digests(m.to_vec()).is_empty()
        })
        .await,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = if got.len() < not_digests(sink.messages()).len() {
        not_digests(sink.messages())
    } else {
        got
    };
    assert!(
        got.iter().all(|m| m.rcpt_tos == ["hmarsh@demo-primary.example"]),
        "{got:?}"
    );
    // Quoted-printable folds long lines with `=` at the end.
    let body = got[0].data.replace("=\r\n", "").replace("=\n", "");
    assert!(body.contains("about a member of staff"), "{body}");
    assert!(
        !subject(&got[0]).contains("staff"),
        "the subject says severity and category only: {}",
        subject(&got[0])
    );
    let list = dsl.get("/monitor/alerts").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.body.contains("mbell"),
        "the DSL team does not see alerts about staff"
    );
    let head = sign_in_enrolled(&server, "hmarsh").await;
    let list = head.get("/monitor/alerts").await;
    assert!(list.body.contains("mbell"), "{}", list.body);
    assert!(
        list.body.contains("School chat (ingest API)") || list.body.contains("School chat"),
        "{}",
        list.body
    );
    sink.stop().await;
}

#[tokio::test]
async fn a_pupil_can_ask_for_help_anonymously_and_it_arrives_as_a_severity_four_alert() {
    let Some(sink) = SmtpSink::start("worried", SinkAuth::None).await else {
        return;
    };
    let server = demo(Some(&format!("{SESSIONS}{}", mail_config(sink.port))));
    let pupil = crate::Client::new(&server.url);
    let page = pupil.get("/worried").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Worried about something?"));
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let r = pupil
        .post(
            "/worried",
            &[
                ("csrf", &csrf),
                (
                    "message",
                    "someone in year 6 keeps messaging me at night and says not to tell",
                ),
                ("anonymous", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Thank you for telling us"), "{}", r.body);
    let got = not_digests(wait_until(&sink, "the DSL team's emails", |m| not_digests(m.to_vec()).len() >= 2).await);
    assert!(subject(&got[0]).contains("Severity 4 alert"), "{}", got[0].data);
    assert!(!got[0].data.contains("messaging me"), "{}", got[0].data);
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    let list = dsl.get("/monitor/alerts").await;
    assert!(list.body.contains("anonymous"), "{}", list.body);
    assert!(list.body.contains("Worried about something?"), "{}", list.body);
    sink.stop().await;
}

#[tokio::test]
async fn the_daily_digest_says_no_concerns_and_waits_out_a_mail_server_that_is_down() {
    // The mail server is down when the digest is due.
    let port = testkit::smtp::free_port();
    let server = demo(Some(&format!("{SESSIONS}{}{DIGEST_NOW}", mail_config(port))));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health: serde_json::Value = reqwest::get(format!("{}/healthz", server.url))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        let mail = &health["components"]["mail"];
        if mail["up"] == false && mail["detail"].as_str().is_some_and(|d| d.contains("not yet taken")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck digest is not on /healthz: {health}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Back up: the retry delivers it; nothing is lost.
    let Some(sink) = SmtpSink::start_on("digest_retry", port, SinkAuth::None).await else {
        return;
    };
    let digests = |m: &[testkit::smtp::Received]| -> Vec<testkit::smtp::Received> {
        m.iter()
            .filter(|m| subject(m).contains("Online safety digest"))
            .cloned()
            .collect()
    };
    let got = digests(&wait_until(&sink, "the digest", |m| digests(m).len() >= 3).await);
    let mut to: Vec<&str> = got.iter().flat_map(|m| m.rcpt_tos.iter().map(String::as_str)).collect();
    to.sort_unstable();
    assert_eq!(
        to,
        [
            "dokoro@demo-primary.example",
            "gpryce@demo-primary.example",
            "hmarsh@demo-primary.example"
        ],
        "the headteacher, the DSL and the technician"
    );
    for m in &got {
        assert!(m.data.contains("No concerns were raised yesterday."), "{}", m.data);
        assert!(
            m.data.contains("text/plain") && m.data.contains("text/html"),
            "{}",
            m.data
        );
    }

    // On demand, from the command line, with the same settings.
    let config = server.data_dir().join("on-demand.toml");
    std::fs::write(&config, format!("{}{DIGEST_NOW}", mail_config(sink.port))).expect("config");
    let (code, out, err) = run(
        &["--config", config.to_str().expect("utf-8"), "digest", "send", "--now"],
        server.data_dir(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Sent the digest to"), "{out}");
    let got = digests(&wait_until(&sink, "the on-demand digest", |m| digests(m).len() >= 6).await);
    assert!(
        got[5].data.contains("No concerns were raised in the last 24 hours."),
        "{}",
        got[5].data
    );
    sink.stop().await;
}

#[tokio::test]
async fn repeated_blocks_in_one_category_cross_the_schools_pattern_rule() {
    let Some(sink) = SmtpSink::start("blocked_pattern", SinkAuth::None).await else {
        return;
    };
    let server = demo(Some(&format!(
        "{SESSIONS}{}\n[filter]\nreload_check = \"1s\"\n\n[[proxy.open_subnets]]\nsubnet = \"127.0.0.0/8\"\ngroup = \"KS2\"\n",
        mail_config(sink.port)
    )));
    let hosts = crate::fixture("lists/drugs.hosts");
    let (code, _, err) = run(
        &["lists", "import", &hosts, "--category", "drugs", "--as", "gpryce"],
        server.data_dir(),
    );
    assert_eq!(code, 0, "{err}");
    // The school makes drugs sites an immediate concern: three blocks in ten minutes.
    let dsl = sign_in_enrolled(&server, "dokoro").await;
    let csrf = dsl.csrf("/monitor/settings").await;
    let bad = dsl
        .post(
            "/monitor/settings",
            &[
                ("csrf", &csrf),
                ("action", "settings"),
                ("settings", "[[pattern]]\nblocks = 3\n"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("The settings were not saved"), "{}", bad.body);
    let rule =
        "[[pattern]]\nfilter_category = \"drugs\"\nblocks = 3\nminutes = 10\ncategory = \"drugs\"\nseverity = 4\n";
    let saved = dsl
        .post(
            "/monitor/settings",
            &[("csrf", &csrf), ("action", "settings"), ("settings", rule)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);

    let proxy = server.listening("Proxy:");
    let device = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Blocked once the running filter has the new list.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut blocks = 0;
    while blocks < 3 {
        let r = device.get("http://001kanpou.com/").send().await.expect("response");
        if r.status() == StatusCode::FOUND {
            blocks += 1;
        } else {
            assert!(Instant::now() < deadline, "not blocked: {}", r.status());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let got = not_digests(wait_until(&sink, "the DSL team's emails", |m| not_digests(m.to_vec()).len() >= 2).await);
    assert!(subject(&got[0]).contains("Severity 4 alert: Drugs"), "{}", got[0].data);
    let list = dsl.get("/monitor/alerts").await;
    assert!(list.body.contains("blocked requests"), "{}", list.body);
    let audit = run(&["audit", "verify"], server.data_dir());
    assert_eq!(audit.0, 0, "{}", audit.1);
    sink.stop().await;
}
