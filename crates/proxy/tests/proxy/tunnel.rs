//! CONNECT tunnels carrying a real TLS connection to a TLS origin started in the test, and
//! the server-name check on the ClientHello.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use proxy::ProxyConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::{STAFF, Setup, ZOE, default_setup, start, status_of};

/// A TLS acceptor with a new self-signed certificate for `names`, and the certificate.
fn acceptor(names: &[&str]) -> (TlsAcceptor, CertificateDer<'static>) {
    let key = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("certificate");
    let cert = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], private)
        .expect("server config");
    (TlsAcceptor::from(Arc::new(config)), cert)
}

/// A TLS web server with a certificate for secure.example.org and games.example.org.
async fn tls_origin() -> (u16, CertificateDer<'static>) {
    let (acceptor, cert) = acceptor(&["secure.example.org", "games.example.org"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tls.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = "hello over tls";
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert)
}

/// Opens a tunnel; returns the stream and the proxy's status.
async fn connect(s: &Setup, target: &str, user: Option<(&str, &str)>) -> (TcpStream, u16) {
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    let auth = user
        .map(|(u, p)| {
            format!(
                "Proxy-Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n").as_bytes())
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_exact(&mut byte).await.is_err() {
            break;
        }
        head.push(byte[0]);
    }
    let status = status_of(&String::from_utf8_lossy(&head));
    (stream, status)
}

/// A TLS GET through an open tunnel, asking for `sni`.
async fn tls_get(stream: TcpStream, sni: &str, root: &CertificateDer<'static>) -> Result<String, String> {
    let mut tls = tokio::time::timeout(Duration::from_secs(5), tls_connect(stream, sni, root))
        .await
        .map_err(|_| "handshake timed out".to_owned())??;
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn connect_tunnels_a_real_tls_connection() {
    let s = default_setup().await;
    let (port, cert) = tls_origin().await;
    let (stream, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 200);
    let page = tls_get(stream, "secure.example.org", &cert)
        .await
        .expect("TLS through the tunnel");
    assert!(page.ends_with("hello over tls"), "{page}");
    let events = s.events().await;
    let e = events.last().expect("event");
    assert_eq!(
        (e.kind.as_str(), e.name.as_str(), e.verdict),
        ("CONNECT", "secure.example.org", "allow")
    );
    assert_eq!(e.person.as_deref(), Some("zhart"));
    assert!(e.bytes.is_some_and(|b| b > 500), "both directions counted: {e:?}");
    assert_eq!(e.url, None, "HTTPS paths are not seen");
}

#[tokio::test]
async fn a_blocked_host_gets_403_on_connect_and_sign_in_is_required_first() {
    let s = default_setup().await;
    let (port, _) = tls_origin().await;
    let (_, status) = connect(&s, &format!("games.example.org:{port}"), None).await;
    assert_eq!(status, 407);
    let (_, status) = connect(&s, &format!("games.example.org:{port}"), ZOE).await;
    assert_eq!(status, 403);
    let (_, status) = connect(&s, &format!("games.example.org:{port}"), STAFF).await;
    assert_eq!(status, 200);
    let events = s.events().await;
    assert!(
        events
            .iter()
            .any(|e| e.verdict == "block" && e.status == "403" && e.category == Some("games")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_tls_server_name_that_differs_from_the_connect_host_is_checked_too() {
    let s = default_setup().await;
    let (port, cert) = tls_origin().await;
    // Tunnel to an allowed host, then ask TLS for a blocked one (domain fronting).
    let (stream, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 200);
    assert!(
        tls_get(stream, "games.example.org", &cert).await.is_err(),
        "closed before the handshake"
    );
    let events = s.events().await;
    let e = events.last().expect("event");
    assert_eq!((e.verdict, e.name.as_str()), ("block", "games.example.org"));
    assert!(e.rule.contains("differs from CONNECT secure.example.org"), "{}", e.rule);
    // For staff the same name is allowed, so the tunnel works.
    let (stream, _) = connect(&s, &format!("secure.example.org:{port}"), STAFF).await;
    assert!(tls_get(stream, "games.example.org", &cert).await.is_ok());
}

#[tokio::test]
async fn a_tunnel_that_does_not_carry_tls_is_closed() {
    let s = default_setup().await;
    let (port, _) = tls_origin().await;
    let (mut stream, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 200);
    stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await.expect("write");
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
    assert!(matches!(n, Ok(Ok(0))), "closed with nothing sent back");
    let events = s.events().await;
    assert!(events.last().expect("event").rule.contains("not TLS"));
}

#[tokio::test]
async fn connect_is_only_to_the_allowed_ports() {
    let s = start(ProxyConfig::default()).await;
    let (port, _) = tls_origin().await;
    let (_, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 403, "only 443 by default");
}

#[tokio::test]
async fn a_tls_name_that_needs_safe_search_cannot_ride_a_tunnel_to_another_host() {
    let s = default_setup().await;
    let (port, cert) = tls_origin().await;
    let (stream, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 200);
    // www.google.co.uk needs safe search for pupils: not through a tunnel to another address.
    assert!(tls_get(stream, "www.google.co.uk", &cert).await.is_err());
    let events = s.events().await;
    assert!(events.last().expect("event").rule.contains("differs from CONNECT"));
}

#[tokio::test]
async fn a_tunnel_with_nothing_moving_is_closed() {
    let s = start(ProxyConfig {
        connect_ports: vec![],
        tunnel_idle: Duration::from_millis(400),
        ..ProxyConfig::default()
    })
    .await;
    let (port, cert) = tls_origin_kept_open().await;
    let (stream, status) = connect(&s, &format!("secure.example.org:{port}"), ZOE).await;
    assert_eq!(status, 200);
    let mut tls = tls_connect(stream, "secure.example.org", &cert)
        .await
        .expect("handshake");
    let mut buf = [0u8; 16];
    // The origin never speaks first and never closes: only the idle limit ends this.
    let ended = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
    assert!(matches!(ended, Ok(Ok(0)) | Ok(Err(_))), "closed when idle: {ended:?}");
}

/// A TLS server that completes the handshake and then waits, saying nothing.
async fn tls_origin_kept_open() -> (u16, CertificateDer<'static>) {
    let (acceptor, cert) = acceptor(&["secure.example.org"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(tls);
                }
            });
        }
    });
    (port, cert)
}

async fn tls_connect(
    stream: TcpStream,
    sni: &str,
    root: &CertificateDer<'static>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())
}
