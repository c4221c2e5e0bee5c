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
pub async fn origin() -> SocketAddr {
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

/// Sets a group's policy from the command line, as a filter manager would.
pub fn set_policy(server: &testkit::server::Server, group: &str, toml: &str) {
    let file = server.data_dir().join(format!("{group}.toml"));
    std::fs::write(&file, toml).expect("write policy");
    let (code, _, err) = run(
        &["policy", "set", group, file.to_str().expect("utf-8"), "--as", "gpryce"],
        server.data_dir(),
    );
    assert_eq!(code, 0, "{err}");
}

fn through(proxy: SocketAddr, user: Option<(&str, &str)>) -> reqwest::Client {
    let mut p = reqwest::Proxy::all(format!("http://{proxy}")).expect("proxy");
    if let Some((u, pw)) = user {
        p = p.basic_auth(u, pw);
    }
    reqwest::Client::builder()
        .proxy(p)
        .redirect(reqwest::redirect::Policy::none())
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
    set_policy(&server, "Staff", "deny = [\"blocked.example\"]\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    let location = loop {
        let r = teacher
            .get("http://blocked.example/games?level=2")
            .send()
            .await
            .expect("response");
        if r.status() == StatusCode::FOUND {
            break r.headers()["location"].to_str().expect("ascii").to_owned();
        }
        let status = r.status();
        assert!(Instant::now() < deadline, "still not blocked: {status}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Sent to the console's block page, which says what and who.
    let blocked = reqwest::get(&location).await.expect("block page");
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    let blocked = blocked.text().await.expect("body");
    assert!(blocked.contains("This page is blocked at school"), "{blocked}");
    assert!(blocked.contains("http://blocked.example/games?level=2"));
    assert!(blocked.contains("You are mbell"));

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

/// The id of the first request in the queue page.
fn first_request_id(body: &str) -> Option<String> {
    let start = body.find("id=\"request-")? + "id=\"request-".len();
    Some(body[start..].split('"').next()?.to_owned())
}

#[tokio::test]
async fn a_blocked_page_is_asked_for_allowed_by_the_filter_manager_and_then_loads() {
    let origin = origin().await;
    let server = demo(Some(&format!(
        "{FAST}\n[filter]\nreload_check = \"1s\"\n\n[proxy.hosts]\n\"quiz.example\" = \"127.0.0.1\"\n"
    )));
    let proxy = server.listening("Proxy:");
    set_policy(&server, "Staff", "deny = [\"quiz.example\"]\n");
    // The teacher's browser, through the proxy, not following redirects so the test sees them.
    let browser = reqwest::Client::builder()
        .proxy(
            reqwest::Proxy::all(format!("http://{proxy}"))
                .expect("proxy")
                .basic_auth("mbell", &server.demo_password("mbell")),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = format!("http://quiz.example:{}/maths/fractions?level=2", origin.port());
    let deadline = Instant::now() + Duration::from_secs(15);
    let location = loop {
        let r = browser.get(&page).send().await.expect("response");
        if r.status() == StatusCode::FOUND {
            break r.headers()["location"].to_str().expect("ascii").to_owned();
        }
        assert!(Instant::now() < deadline, "not blocked yet: {}", r.status());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let path = location
        .strip_prefix(&server.url)
        .unwrap_or_else(|| panic!("the block page is the console's: {location}"))
        .to_owned();

    // The block page, as the teacher's browser gets it from the console.
    let teacher = crate::Client::new(&server.url);
    let blocked = teacher.get(&path).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert!(
        blocked.body.contains("This page is blocked at school"),
        "{}",
        blocked.body
    );
    assert!(
        blocked.body.contains("You are mbell"),
        "the signed link says who: {}",
        blocked.body
    );
    assert!(blocked.body.contains("Ask for it to be unblocked"));
    let field = |name: &str| crate::hidden(&blocked.body, name).unwrap_or_default();
    let form = [
        ("csrf", field("csrf")),
        ("url", field("url")),
        ("group", field("group")),
        ("person", field("person")),
        ("at", field("at")),
        ("sig", field("sig")),
        ("why", "Year 6 fractions lesson this afternoon".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sent = teacher.post("/blocked", &form).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let after = teacher.get(sent.location.as_deref().expect("back to the page")).await;
    assert!(after.body.contains("Your request has been sent"), "{}", after.body);
    assert!(after.body.contains("waiting for an answer"), "{}", after.body);

    // The filter manager sees it and allows it for the teacher for a day.
    let manager = filtering::filter_manager_client(&server).await;
    let overview = manager.get("/filtering").await;
    assert!(overview.body.contains("1 waiting"), "{}", overview.body);
    let queue = manager.get("/filtering/requests").await;
    assert!(queue.body.contains("quiz.example/maths/fractions"), "{}", queue.body);
    assert!(queue.body.contains("Year 6 fractions lesson this afternoon"));
    let id = first_request_id(&queue.body).expect("a request in the queue");
    let csrf = crate::hidden(&queue.body, "csrf").expect("csrf");
    let answered = manager
        .post(
            &format!("/filtering/requests/{id}"),
            &[
                ("csrf", &csrf),
                ("action", "allow"),
                ("entry", "quiz.example/maths"),
                ("scope", "person"),
                ("expires", "1d"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);

    // At once: the page loads through the proxy for the teacher.
    let r = browser.get(&page).send().await.expect("response");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "hello from the school's own web server");
    // Only the pages allowed: the rest of the site stays blocked.
    let other = format!("http://quiz.example:{}/arcade", origin.port());
    assert_eq!(
        browser.get(&other).send().await.expect("response").status(),
        StatusCode::FOUND
    );
    // And the block page tells the teacher the answer.
    let revisit = teacher.get(&path).await;
    assert!(
        revisit.body.contains("This page is not blocked now"),
        "{}",
        revisit.body
    );
    assert!(revisit.body.contains("unblocked"), "{}", revisit.body);

    // A link whose person was changed is not believed.
    let forged = path.replace("person=mbell", "person=hmarsh");
    let page_forged = teacher.get(&forged).await;
    assert!(!page_forged.body.contains("You are hmarsh"), "{}", page_forged.body);

    // Every step is in the audit log, and the chain holds.
    let (code, out, _) = run(&["audit", "verify"], server.data_dir());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_name_blocked_by_dns_brings_the_browser_to_the_block_page() {
    let server = demo(None);
    // What a browser sends to the console's address after DNS answered a blocked name with it.
    let c = crate::Client::new(&server.url);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/logs?x=1", server.url))
        .header("host", "games.example")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(
        location.starts_with(&format!(
            "{}/blocked?url=http%3A%2F%2Fgames.example%2Flogs%3Fx%3D1",
            server.url
        )),
        "{location}"
    );
    // The console's own pages are unaffected, and WPAD finds the PAC file under any name.
    assert_eq!(c.get("/sign-in").await.status, StatusCode::OK);
    let wpad = reqwest::Client::new()
        .get(format!("{}/wpad.dat", server.url))
        .header("host", "wpad.school.example")
        .send()
        .await
        .expect("response");
    assert_eq!(wpad.status(), StatusCode::OK);
    assert!(wpad.text().await.expect("body").contains("FindProxyForURL"));
}

#[tokio::test]
async fn proxy_sign_in_guesses_are_throttled_like_console_ones() {
    let server = demo(Some(FAST));
    let proxy = server.listening("Proxy:");
    let page = "http://127.0.0.1:9/";
    // FAST allows ten failures in five minutes.
    for i in 0..11 {
        let r = through(proxy, Some(("akowalczyk", &format!("guess {i}"))))
            .get(page)
            .send()
            .await
            .expect("response");
        assert_eq!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    }
    // Now even the right password waits for the window to pass.
    let r = through(proxy, Some(("akowalczyk", &server.demo_password("akowalczyk"))))
        .get(page)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert!(r.text().await.expect("body").contains("Too many failed attempts"));
    // Someone else is not locked out by it.
    let r = through(proxy, Some(("rabara", &server.demo_password("rabara"))))
        .get(page)
        .send()
        .await
        .expect("response");
    assert_ne!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
}
