//! The proxy against real parts: an origin web server and a TLS origin started in the test,
//! a real HTTP client (reqwest) configured with the proxy, raw sockets for what clients
//! should not send, and a real TLS client through CONNECT.

mod tunnel;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use policy::list::parse_list;
use policy::{Category, GroupPolicy, ListFormat, ListInfo, SnapshotBuilder};
use proxy::{Accounts, Proxy, ProxyConfig, SignIn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub fn engine() -> Arc<policy::Engine> {
    let mut b = SnapshotBuilder::new(7);
    let games = parse_list("games", ListFormat::Domains, &b"games.example.org\n"[..]);
    b.add_list(ListInfo::new("t/games", "t", Category::Games, false), &games);
    let pages = parse_list("adult", ListFormat::Urls, &b"www.example.org/adult/\n"[..]);
    b.add_list(ListInfo::new("t/adult", "t", Category::Adult, false), &pages);
    let pupils = GroupPolicy {
        block: vec!["games".into(), "adult".into()],
        safe_search: true,
        ..GroupPolicy::default()
    };
    for (name, p, pupil) in [
        ("KS2", pupils.clone(), true),
        ("unidentified", pupils, true),
        ("Staff", GroupPolicy::default(), false),
    ] {
        b.add_group(name, &p.check(name).expect("valid"), pupil);
    }
    Arc::new(policy::Engine::new(b.build()))
}

/// Accounts for the tests: zhart (KS2), msmith (Staff), and a visitor whose access ends
/// at a time the test sets.
#[derive(Debug, Default)]
pub struct TestAccounts {
    pub checks: Mutex<usize>,
    pub signed_in: Mutex<Vec<(IpAddr, String, String)>>,
    pub visitor_until: Mutex<i64>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Accounts for TestAccounts {
    fn check(&self, username: String, password: String, _: IpAddr) -> Pin<Box<dyn Future<Output = SignIn> + Send>> {
        *self.checks.lock().expect("lock") += 1;
        let visitor_until = *self.visitor_until.lock().expect("lock");
        Box::pin(async move {
            match (username.as_str(), password.as_str()) {
                ("zhart", "correct horse") => SignIn::Person {
                    username,
                    group: "KS2".into(),
                    until: None,
                },
                ("msmith", "staff pass") => SignIn::Person {
                    username,
                    group: "Staff".into(),
                    until: None,
                },
                ("visitor1", "guest pass") if visitor_until > unix_now() => SignIn::Person {
                    username,
                    group: "Staff".into(),
                    until: Some(visitor_until),
                },
                ("locked", _) => SignIn::Throttled,
                _ => SignIn::Refused,
            }
        })
    }

    fn signed_in(&self, client: IpAddr, username: &str, group: &str) {
        self.signed_in
            .lock()
            .expect("lock")
            .push((client, username.to_owned(), group.to_owned()));
    }
}

/// An origin web server: answers every request with what it received (method, path, and
/// headers, one per line), and counts requests.
#[derive(Debug, Clone)]
pub struct Origin {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub async fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let mut text = format!("{} {}\n", req.method(), req.uri());
                        for (k, v) in req.headers() {
                            text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
                        }
                        seen.lock().expect("lock").push(text.clone());
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        text.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Origin { addr, requests }
}

#[derive(Debug)]
pub struct Setup {
    pub addr: SocketAddr,
    pub origin: Origin,
    pub accounts: Arc<TestAccounts>,
    pub events: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<events::FilterEvent>>,
    pub proxy: Arc<Proxy>,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Setup {
    /// The events logged so far.
    pub async fn events(&self) -> Vec<events::FilterEvent> {
        // Events of a response are logged when its body ends: give them a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut rx = self.events.lock().await;
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            out.push(e);
        }
        out
    }

    /// A real HTTP client using the proxy, signed in as `user` (if any).
    pub fn client(&self, user: Option<(&str, &str)>) -> reqwest::Client {
        let mut p = reqwest::Proxy::all(format!("http://{}", self.addr)).expect("proxy");
        if let Some((u, pw)) = user {
            p = p.basic_auth(u, pw);
        }
        reqwest::Client::builder()
            .proxy(p)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }

    /// `http://NAME:PORT/PATH` on the origin server, by a name the proxy maps to it.
    pub fn url(&self, name: &str, path: &str) -> String {
        format!("http://{name}:{}{path}", self.origin.addr.port())
    }
}

/// The names the tests use, all served by 127.0.0.1.
pub const NAMES: &[&str] = &[
    "www.example.org",
    "games.example.org",
    "www.bing.com",
    "www.google.co.uk",
    "forcesafesearch.google.com",
    "secure.example.org",
    "strict.bing.com",
];

pub async fn start(config: ProxyConfig) -> Setup {
    let origin = origin().await;
    let accounts = Arc::new(TestAccounts::default());
    let (queue, rx) = events::EventQueue::new(10_000);
    let config = ProxyConfig {
        hosts: NAMES
            .iter()
            .map(|n| (n.to_string(), IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .collect(),
        ..config
    };
    let proxy = Proxy::new(engine(), accounts.clone(), Some(queue), config, None);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(proxy.clone().serve(listener, stop));
    Setup {
        addr,
        origin,
        accounts,
        events: tokio::sync::Mutex::new(rx),
        proxy,
        _stop: tx,
    }
}

/// The defaults, but CONNECT to any port (the test servers' ports are random).
pub async fn default_setup() -> Setup {
    start(ProxyConfig {
        connect_ports: vec![],
        ..ProxyConfig::default()
    })
    .await
}

pub const ZOE: Option<(&str, &str)> = Some(("zhart", "correct horse"));
pub const STAFF: Option<(&str, &str)> = Some(("msmith", "staff pass"));

#[tokio::test]
async fn sign_in_is_required_and_a_wrong_password_is_refused() {
    let s = default_setup().await;
    let url = s.url("www.example.org", "/hello");
    let r = s.client(None).get(&url).send().await.expect("response");
    assert_eq!(r.status(), 407);
    let challenge = r.headers()["proxy-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    let r = s
        .client(Some(("zhart", "wrong")))
        .get(&url)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 407);
    assert!(r.text().await.expect("body").contains("not right"));
    let r = s
        .client(Some(("locked", "x")))
        .get(&url)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 407);
    assert!(r.text().await.expect("body").contains("Too many failed attempts"));
    assert_eq!(
        s.proxy
            .counters
            .sign_in_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert!(
        s.origin.requests.lock().expect("lock").is_empty(),
        "nothing reached the web"
    );

    let r = s.client(ZOE).get(&url).send().await.expect("response");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").starts_with("GET /hello"));
    // The sign-in is remembered: the password is not checked again on every request, and
    // the DNS server is told once who is at this address.
    let checks = *s.accounts.checks.lock().expect("lock");
    for _ in 0..3 {
        assert_eq!(s.client(ZOE).get(&url).send().await.expect("response").status(), 200);
    }
    assert_eq!(*s.accounts.checks.lock().expect("lock"), checks);
    assert_eq!(
        s.accounts.signed_in.lock().expect("lock").as_slice(),
        [(IpAddr::V4(Ipv4Addr::LOCALHOST), "zhart".to_owned(), "KS2".to_owned())]
    );
    let events = s.events().await;
    let last = events.last().expect("an event");
    assert_eq!(
        (last.source, last.person.as_deref(), last.group.as_str(), last.verdict),
        ("proxy", Some("zhart"), "KS2", "allow")
    );
    assert_eq!(last.kind, "GET");
    assert_eq!(last.status, "200");
    assert!(last.bytes.is_some_and(|b| b > 0), "{last:?}");
    assert_eq!(last.url.as_deref(), Some(url.as_str()));
}

#[tokio::test]
async fn a_visitor_account_stops_working_at_its_expiry_even_while_remembered() {
    let s = default_setup().await;
    *s.accounts.visitor_until.lock().expect("lock") = unix_now() + 2;
    let url = s.url("www.example.org", "/");
    let visitor = s.client(Some(("visitor1", "guest pass")));
    assert_eq!(visitor.get(&url).send().await.expect("response").status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(visitor.get(&url).send().await.expect("response").status(), 407);
}

#[tokio::test]
async fn each_persons_group_decides_and_blocked_pages_get_the_block_page() {
    let s = default_setup().await;
    let games = s.url("games.example.org", "/play");
    let r = s.client(ZOE).get(&games).send().await.expect("response");
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let page = r.text().await.expect("body");
    assert!(page.contains("This page is blocked at school"), "{page}");
    assert!(page.contains(&games), "the page says what was blocked");
    assert!(page.contains("Games"), "and what kind of site it is");
    assert!(page.contains("Signed in as zhart"));
    let r = s.client(STAFF).get(&games).send().await.expect("response");
    assert_eq!(r.status(), 200, "staff may use games sites");

    // A URL list entry blocks one part of a site, which only the proxy can see.
    let r = s
        .client(ZOE)
        .get(s.url("www.example.org", "/adult/page.html"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 403);
    let r = s
        .client(ZOE)
        .get(s.url("www.example.org", "/homework.html"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);

    let events = s.events().await;
    let blocked: Vec<_> = events.iter().filter(|e| e.verdict == "block").collect();
    assert_eq!(blocked.len(), 2, "{events:?}");
    assert_eq!(blocked[0].category, Some("games"));
    assert_eq!(blocked[0].status, "403");
    assert!(blocked[0].rule.contains("games"), "{}", blocked[0].rule);
    assert_eq!(blocked[1].category, Some("adult"));
    // Nothing blocked reached the web server: only staff's visit to the games site.
    let reached = s.origin.requests.lock().expect("lock").clone();
    assert_eq!(reached.iter().filter(|r| r.contains("/play")).count(), 1, "{reached:?}");
    assert!(reached.iter().all(|r| !r.contains("/adult")), "{reached:?}");
}

#[tokio::test]
async fn subnets_that_need_no_sign_in_get_their_group() {
    let s = start(ProxyConfig {
        open_subnets: vec![("127.0.0.0/8".parse().expect("subnet"), "KS2".into())],
        ..ProxyConfig::default()
    })
    .await;
    let r = s
        .client(None)
        .get(s.url("www.example.org", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    let r = s
        .client(None)
        .get(s.url("games.example.org", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 403, "KS2's policy");
    let events = s.events().await;
    assert_eq!(events[0].group, "KS2");
    assert_eq!(events[0].person, None);
}

#[tokio::test]
async fn search_terms_are_kept_with_the_event_and_searches_go_to_the_safe_host() {
    let s = default_setup().await;
    let r = s
        .client(ZOE)
        .get(s.url("www.bing.com", "/search?q=volcano+facts&form=QBLH"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    let seen = r.text().await.expect("body");
    assert!(
        seen.contains(&format!("host: www.bing.com:{}", s.origin.addr.port())),
        "the engine's own Host header is kept: {seen}"
    );
    let events = s.events().await;
    let e = events.last().expect("event");
    assert_eq!(e.search.as_deref(), Some("volcano facts"));
    assert_eq!(e.verdict, "safe_search", "pupils' searches go to strict.bing.com");
    // Staff have no safe search, and their searches are kept too.
    s.client(STAFF)
        .get(s.url("www.google.co.uk", "/search?q=ofsted+framework"))
        .send()
        .await
        .expect("response");
    let events = s.events().await;
    let e = events.last().expect("event");
    assert_eq!((e.search.as_deref(), e.verdict), (Some("ofsted framework"), "allow"));
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_their_hop_and_bodies_stream_through() {
    let s = default_setup().await;
    let r = s
        .client(ZOE)
        .post(s.url("www.example.org", "/form"))
        .header("Connection", "x-private, keep-alive")
        .header("x-private", "not for the server")
        .header("x-kept", "yes")
        .body("a=1&b=2")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("via").is_some());
    let seen = r.text().await.expect("body");
    assert!(seen.starts_with("POST /form\n"), "origin form upstream: {seen}");
    assert!(seen.contains("x-kept: yes"));
    assert!(seen.contains("via: 1.1 schoolgate"));
    assert!(!seen.contains("x-private"), "{seen}");
    assert!(
        !seen.contains("proxy-authorization"),
        "the password never leaves: {seen}"
    );
    assert!(seen.contains("body: a=1&b=2"));
}

async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn malformed_requests_and_slow_clients_are_closed_and_others_still_served() {
    let s = start(ProxyConfig {
        header_timeout: Duration::from_millis(500),
        ..ProxyConfig::default()
    })
    .await;
    for junk in [
        &b"\x16\x03\x01\x00\x05hello\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET http://www.example.org/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET http://www.example.org/ HTTP/9.9\r\n\r\n",
    ] {
        let answer = raw(s.addr, junk).await;
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer:?}");
    }
    let huge = format!(
        "GET http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\nX: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = raw(s.addr, huge.as_bytes()).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    // Direct requests (not as a proxy) are told what this is.
    let answer = raw(s.addr, b"GET / HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // A client that sends half a request and stops is cut off after the header timeout...
    let mut slow = TcpStream::connect(s.addr).await.expect("connect");
    slow.write_all(b"GET http://www.example.org/ HTTP/1.1\r\nHost: www.ex")
        .await
        .expect("write");
    // ...and meanwhile everyone else is served.
    let r = s
        .client(ZOE)
        .get(s.url("www.example.org", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the slow connection was closed");

    // A kept-alive connection that then says nothing is closed too.
    let mut idle = TcpStream::connect(s.addr).await.expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nHost: proxy\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 400");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection was closed");
}

#[tokio::test]
async fn too_many_connections_are_refused_and_the_rest_served() {
    let s = start(ProxyConfig {
        max_connections: 2,
        ..ProxyConfig::default()
    })
    .await;
    let held: Vec<TcpStream> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            v.push(TcpStream::connect(s.addr).await.expect("connect"));
        }
        v
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw(
        s.addr,
        b"GET http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n\r\n",
    )
    .await;
    assert!(answer.is_empty(), "a third connection is closed: {answer:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = s
        .client(ZOE)
        .get(s.url("www.example.org", "/"))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
}

/// Parses `HTTP/1.1 200 ...` headers from a raw response.
pub fn status_of(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn the_web_server_is_asked_for_the_page_policy_saw() {
    let s = default_setup().await;
    // Another site's name in Host: the server is still asked for the allowed one.
    let r = s
        .client(ZOE)
        .get(s.url("www.example.org", "/"))
        .header("host", "games.example.org")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    let seen = r.text().await.expect("body");
    assert!(
        seen.contains(&format!("host: www.example.org:{}", s.origin.addr.port())),
        "{seen}"
    );
    // Escapes and dot segments cannot walk round a URL entry.
    for path in [
        "/x/../adult/page.html",
        "/%61dult/page.html",
        "//adult//page.html",
        "/adult/./page.html",
    ] {
        let r = raw(
            s.addr,
            format!(
                "GET http://www.example.org:{}{path} HTTP/1.1\r\nHost: www.example.org\r\nProxy-Authorization: Basic {}\r\nConnection: close\r\n\r\n",
                s.origin.addr.port(),
                base64::engine::general_purpose::STANDARD.encode("zhart:correct horse")
            )
            .as_bytes(),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 403"), "{path}: {r}");
    }
}
