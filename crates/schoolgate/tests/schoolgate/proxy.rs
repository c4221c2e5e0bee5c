//! The web proxy in the real binary: sign-in with a school account, the school's policy,
//! the filter log (with the DNS server told who signed in), and `/proxy.pac`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{FAST, demo, filtering, run};

/// A web server on loopback that answers every request with one line.
async fn origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello from the school's own web server";
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

fn through(proxy: SocketAddr, user: Option<(&str, &str)>) -> reqwest::Client {
    let mut p = reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy");
    if let Some((u, pw)) = user {
        p = p.basic_auth(u, pw);
    }
    reqwest::Client::builder()
        .proxy(p)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn ask_dns(dns: SocketAddr, name: &str) {
    let mut q = Message::query();
    q.metadata.id = 9;
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).expect("name"), RecordType::A));
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.send_to(&q.to_vec().expect("encode"), dns).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf)).await;
}

#[tokio::test]
async fn a_teacher_signs_in_to_the_proxy_and_is_filtered_logged_and_known_to_dns() {
    let server = demo(Some(&format!("{FAST}\n[filter]\nreload_check = \"1s\"\n")));
    let proxy = server.listening("Proxy:");
    let dns = server.listening("DNS:");
    let origin = origin().await;
    let page = format!("http://127.0.0.1:{}/timetable", origin.port());

    let r = through(proxy, None).get(&page).send().await.expect("response");
    assert_eq!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let r = through(proxy, Some(("mbell", "not his password")))
        .get(&page)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let teacher = through(proxy, Some(("mbell", &server.demo_password("mbell"))));
    let r = teacher.get(&page).send().await.expect("response");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "hello from the school's own web server");

    // The school blocks a site for staff; the running proxy follows within the reload check.
    let policy = server.data_dir().join("staff.toml");
    std::fs::write(&policy, "deny = [\"blocked.example\"]\n").expect("write policy");
    let (code, _, err) = run(
        &[
            "policy",
            "set",
            "Staff",
            policy.to_str().expect("utf-8"),
            "--as",
            "gpryce",
        ],
        server.data_dir(),
    );
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let blocked = loop {
        let r = teacher
            .get("http://blocked.example/games?level=2")
            .send()
            .await
            .expect("response");
        if r.status() == StatusCode::FORBIDDEN {
            break r.text().await.expect("body");
        }
        let status = r.status();
        if Instant::now() > deadline {
            let health = reqwest::get(format!("{}/healthz", server.url))
                .await
                .expect("healthz")
                .text()
                .await
                .unwrap_or_default();
            let (_, explained, _) = run(&["explain", "blocked.example", "--group", "Staff"], server.data_dir());
            panic!(
                "still not blocked: {status} {}\n{health}\n{explained}",
                r.text().await.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(blocked.contains("This page is blocked at school"), "{blocked}");
    assert!(blocked.contains("http://blocked.example/games?level=2"));
    assert!(blocked.contains("Signed in as mbell"));

    // The proxy sign-in told the DNS server who is at this address.
    ask_dns(dns, "blocked.example.").await;

    let c = filtering::filter_manager_client(&server).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = c.get("/logs?person=mbell").await;
        assert_eq!(log.status, StatusCode::OK);
        let proxy_rows = log.body.matches("<td>Web proxy</td>").count();
        let dns_rows = log.body.matches("<td>DNS</td>").count();
        if proxy_rows >= 2 && dns_rows >= 1 {
            assert!(log.body.contains(&page), "the full URL is logged: {}", log.body);
            assert!(log.body.contains("deny list"), "{}", log.body);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "proxy {proxy_rows}, DNS {dns_rows} rows for mbell: {}",
            log.body
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Failed proxy sign-ins are audited like console ones.
    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn the_pac_file_points_browsers_at_the_proxy() {
    let server = demo(None);
    let proxy = server.listening("Proxy:");
    for path in ["/proxy.pac", "/wpad.dat"] {
        let r = reqwest::get(format!("{}{path}", server.url)).await.expect("response");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/x-ns-proxy-autoconfig");
        let text = r.text().await.expect("body");
        assert!(text.contains("function FindProxyForURL(url, host)"), "{text}");
        assert!(text.contains(&format!("return \"PROXY {proxy}\";")), "{text}");
        assert!(text.contains("\"127.0.0.1\""), "the console itself goes direct: {text}");
    }
}
