//! Emails delivered to a real SMTP server (aiosmtpd, started by the test) and read back:
//! plain and HTML parts, no names, password and OAuth2 (XOAUTH2) sign-in, and a server
//! that is down (issue 6).

use std::time::Duration;

use notify::compose::{AlertLine, BlockedLine};
use notify::{AlertEmail, Digest, DigestKind, MailConfig, Mailer, SendError, TlsMode};
use testkit::smtp::{SinkAuth, SmtpSink};

fn config(port: u16) -> MailConfig {
    MailConfig {
        server: "127.0.0.1".into(),
        port: Some(port),
        tls: TlsMode::None,
        from: "Online safety <schoolgate@school.example>".into(),
        username: None,
        password: None,
        password_file: None,
        oauth2: None,
        ca_file: None,
        timeout_secs: Some(5),
        retry_secs: None,
    }
}

fn digest() -> Digest {
    Digest {
        kind: DigestKind::Daily,
        school: "Demo Primary".into(),
        period: "Monday 23 November 2026".into(),
        since: "yesterday".into(),
        console: "http://127.0.0.1:8080".into(),
        alerts: vec![AlertLine {
            severity: 3,
            category: "Bullying and abuse".into(),
            alerts: 2,
        }],
        open_alerts: 2,
        staff_alerts: None,
        incidents: None,
        blocked: vec![BlockedLine {
            category: "Games".into(),
            blocks: 17,
            people: 4,
        }],
        health: vec![],
        due: None,
    }
}

#[tokio::test]
async fn the_digest_arrives_with_a_plain_text_and_an_html_part() {
    let Some(sink) = SmtpSink::start("digest_arrives", SinkAuth::None).await else {
        return;
    };
    let mailer = Mailer::new(config(sink.port)).expect("settings");
    let email = digest().render().expect("renders");
    let to = vec!["head@school.example".to_owned(), "dsl@school.example".to_owned()];
    mailer.send(&to, &email).await.expect("sent");
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "one message per recipient");
    let m = &got[0];
    assert_eq!(m.mail_from, "schoolgate@school.example");
    assert_eq!(m.rcpt_tos, ["head@school.example"]);
    assert!(m.data.contains("multipart/alternative"), "{}", m.data);
    assert!(
        m.data.contains("text/plain") && m.data.contains("text/html"),
        "{}",
        m.data
    );
    assert!(m.data.contains("Auto-Submitted: auto-generated"), "{}", m.data);
    assert!(m.data.contains("2 concerns were raised yesterday."), "{}", m.data);
    assert!(m.data.contains("Bullying and abuse"), "{}", m.data);
    sink.stop().await;
}

#[tokio::test]
async fn password_sign_in_is_used_and_a_wrong_one_is_reported() {
    let Some(sink) = SmtpSink::start("password_sign_in", SinkAuth::Password("s3cret")).await else {
        return;
    };
    let mut c = config(sink.port);
    c.username = Some("schoolgate@school.example".into());
    c.password = Some("s3cret".into());
    let email = AlertEmail {
        school: "Demo".into(),
        severity: 4,
        category: "Self-harm".into(),
        link: "http://127.0.0.1:8080/monitor/alerts/1".into(),
        about_staff: false,
    }
    .render()
    .expect("renders");
    Mailer::new(c.clone())
        .expect("settings")
        .send(&["dsl@school.example".into()], &email)
        .await
        .expect("sent");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].login, "schoolgate@school.example");
    assert!(got[0].data.contains("Severity 4 alert: Self-harm"), "{}", got[0].data);

    c.password = Some("wrong".into());
    let err = Mailer::new(c)
        .expect("settings")
        .send(&["dsl@school.example".into()], &email)
        .await
        .expect_err("refused");
    assert!(matches!(err, SendError::Smtp { .. }), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{}", sink.port)), "{err}");
    sink.stop().await;
}

/// A token endpoint in the test, answering the client-credentials grant as Microsoft's
/// does; it counts its calls so the test sees the token is kept between sends.
async fn token_server(token: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/tenant/oauth2/v2.0/token",
        listener.local_addr().expect("addr")
    );
    let counted = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            counted.fetch_add(1, Ordering::SeqCst);
            let good = req.contains("grant_type=client_credentials") && req.contains("client_secret=app-secret");
            let (status, body) = if good {
                (
                    "200 OK",
                    format!("{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\",\"expires_in\":3599}}"),
                )
            } else {
                (
                    "401 Unauthorized",
                    "{\"error\":\"invalid_client\",\"error_description\":\"bad secret\"}".to_owned(),
                )
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    (url, calls)
}

#[tokio::test]
async fn oauth2_fetches_a_token_once_and_signs_in_with_xoauth2() {
    let Some(sink) = SmtpSink::start("oauth2_sign_in", SinkAuth::OAuth2Token("tok-123")).await else {
        return;
    };
    let (url, calls) = token_server("tok-123").await;
    let mut c = config(sink.port);
    c.username = Some("schoolgate@school.example".into());
    c.oauth2 = Some(notify::smtp::OAuth2Config {
        token_url: url.clone(),
        client_id: "app-id".into(),
        client_secret: Some("app-secret".into()),
        client_secret_file: None,
        scope: "https://outlook.office365.com/.default".into(),
    });
    let mailer = Mailer::new(c.clone()).expect("settings");
    let email = digest().render().expect("renders");
    mailer
        .send(&["head@school.example".into()], &email)
        .await
        .expect("first");
    mailer
        .send(&["dsl@school.example".into()], &email)
        .await
        .expect("second");
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].login, "xoauth2:schoolgate@school.example");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "the token is kept");

    let mut bad = c;
    if let Some(o) = bad.oauth2.as_mut() {
        o.client_secret = Some("nope".into());
    }
    let err = Mailer::new(bad)
        .expect("settings")
        .send(&["head@school.example".into()], &email)
        .await
        .expect_err("no token");
    assert!(matches!(err, SendError::Token { .. }), "{err}");
    assert!(err.to_string().contains("bad secret"), "{err}");
    sink.stop().await;
}

#[tokio::test]
async fn a_server_that_is_down_is_an_error_and_the_same_mail_goes_once_it_is_back() {
    let port = testkit::smtp::free_port();
    let mailer = Mailer::new(config(port)).expect("settings");
    let email = digest().render().expect("renders");
    let err = mailer
        .send(&["head@school.example".into()], &email)
        .await
        .expect_err("nobody listening");
    assert!(matches!(err, SendError::Smtp { .. }), "{err}");
    let Some(sink) = SmtpSink::start_on("server_down", port, SinkAuth::None).await else {
        return;
    };
    mailer
        .send(&["head@school.example".into()], &email)
        .await
        .expect("back");
    assert_eq!(sink.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    sink.stop().await;
}

#[test]
fn settings_mistakes_are_named() {
    let mut c = config(25);
    c.from = "not an address".into();
    assert!(
        Mailer::new(c)
            .expect_err("from")
            .to_string()
            .contains("not an email address")
    );
    let mut c = config(25);
    c.password = Some("x".into());
    assert!(Mailer::new(c).expect_err("user").to_string().contains("username"));
    let minute = Duration::from_secs(60);
    assert_eq!(notify::retry_after(1, minute), minute);
    assert_eq!(notify::retry_after(3, minute), 4 * minute);
    assert_eq!(notify::retry_after(40, minute), Duration::from_secs(3600));
    assert_eq!(notify::retry_after(2, Duration::from_secs(2)), Duration::from_secs(4));
}

#[tokio::test]
async fn one_bad_address_does_not_stop_the_others() {
    let Some(sink) = SmtpSink::start("bad_address", SinkAuth::None).await else {
        return;
    };
    let mailer = Mailer::new(config(sink.port)).expect("settings");
    let email = digest().render().expect("renders");
    let to = vec![
        "head@school.example".to_owned(),
        "not an address".to_owned(),
        "dsl@school.example".to_owned(),
    ];
    let failed = mailer.send_each(&to, &email).await.expect("the server was reached");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "not an address");
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    let mut rcpt: Vec<&str> = got.iter().flat_map(|m| m.rcpt_tos.iter().map(String::as_str)).collect();
    rcpt.sort_unstable();
    assert_eq!(rcpt, ["dsl@school.example", "head@school.example"]);
    sink.stop().await;
}
