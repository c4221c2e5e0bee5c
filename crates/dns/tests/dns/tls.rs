//! DNS-over-TLS upstreams against a real TLS resolver started in the test, with a
//! certificate made for it: answers come over TLS, connections are reused, a closed one is
//! replaced, and a certificate for another name is refused.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dns::{Attribution, BlockMode, Handler, UpstreamAddr, Upstreams};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{BLOCK_PAGE, engine, question};

struct TlsUpstream {
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    connections: Arc<AtomicUsize>,
}

/// A resolver on TLS with a certificate for `name`; with `one_answer`, it closes each
/// connection after answering once, as a server with a short idle timeout would.
async fn tls_upstream(name: &str, one_answer: bool) -> TlsUpstream {
    let key = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("certificate");
    let ca = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ca.clone()], private)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let asked = Arc::new(Mutex::new(HashMap::new()));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, asked) = (acceptor.clone(), asked.clone());
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                loop {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let Some(reply) = crate::upstream::answer(&q, &asked, false) else {
                        return;
                    };
                    let _ = s.write_all(&(reply.len() as u16).to_be_bytes()).await;
                    let _ = s.write_all(&reply).await;
                    let _ = s.flush().await;
                    if one_answer {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    TlsUpstream { addr, ca, connections }
}

fn handler(upstream: UpstreamAddr, ca: CertificateDer<'static>) -> Handler {
    Handler {
        engine: engine(),
        attribution: Arc::new(Attribution::new(vec![], "Staff")),
        upstreams: Upstreams::with_roots(&[upstream], Duration::from_millis(1500), vec![ca]),
        cache: dns::cache::AnswerCache::new(1000, Duration::from_secs(3600)),
        block: BlockMode::BlockPage {
            v4: BLOCK_PAGE,
            v6: None,
        },
        fallback_group: "Staff".into(),
    }
}

async fn ask(h: &Handler, name: &str, qtype: RecordType) -> Message {
    let q = question(name, qtype, true);
    let (bytes, _) = h
        .handle(&q.to_vec().expect("encode"), IpAddr::V4(Ipv4Addr::LOCALHOST), true)
        .await
        .expect("an answer");
    Message::from_vec(&bytes).expect("decode")
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn names_resolve_over_tls_on_one_kept_connection() {
    let up = tls_upstream("dot.test", false).await;
    let h = handler(UpstreamAddr::tls(up.addr, "dot.test"), up.ca.clone());
    let first = ask(&h, "www.example.org.", RecordType::A).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&first), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    // Another name (not cached) goes over the same connection: no second handshake.
    let second = ask(&h, "games.example.org.", RecordType::A).await;
    assert_eq!(a_records(&second), vec![Ipv4Addr::new(192, 0, 2, 30)]);
    let nx = ask(&h, "nothing-here.example.org.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.connections.load(Ordering::SeqCst), 1, "the TLS connection is reused");
    assert!(h.upstreams.health().iter().all(|(_, ok)| *ok));
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    let up = tls_upstream("dot.test", true).await;
    let h = handler(UpstreamAddr::tls(up.addr, "dot.test"), up.ca.clone());
    assert_eq!(
        a_records(&ask(&h, "www.example.org.", RecordType::A).await),
        vec![Ipv4Addr::new(192, 0, 2, 10)]
    );
    // The kept connection is closed by now; the question is asked again on a new one.
    let again = ask(&h, "games.example.org.", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&again), vec![Ipv4Addr::new(192, 0, 2, 30)]);
    assert_eq!(up.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_servfail() {
    let up = tls_upstream("someone-else.test", false).await;
    let h = handler(UpstreamAddr::tls(up.addr, "dot.test"), up.ca.clone());
    let m = ask(&h, "www.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(m.answers.is_empty());
    assert!(h.upstreams.health().iter().all(|(_, ok)| !*ok), "marked down");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let up = tls_upstream("dot.test", false).await;
    let other = tls_upstream("dot.test", false).await;
    // Trusting another server's certificate is not trusting this one's.
    let h = handler(UpstreamAddr::tls(up.addr, "dot.test"), other.ca.clone());
    let m = ask(&h, "www.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn upstream_addresses_parse_with_their_default_ports() {
    let p = |s: &str| s.parse::<UpstreamAddr>();
    assert_eq!(
        p("9.9.9.9"),
        Ok(UpstreamAddr::plain("9.9.9.9:53".parse().expect("addr")))
    );
    assert_eq!(p("[2620:fe::fe]:5353").map(|u| u.addr.port()), Ok(5353));
    assert_eq!(p("2620:fe::fe").map(|u| u.addr.port()), Ok(53));
    assert_eq!(
        p("tls://9.9.9.9#dns.quad9.net"),
        Ok(UpstreamAddr::tls("9.9.9.9:853".parse().expect("addr"), "dns.quad9.net"))
    );
    assert_eq!(
        p("tls://[2620:fe::fe]:8853#dns.quad9.net").map(|u| u.addr.port()),
        Ok(8853)
    );
    assert_eq!(
        p("tls://1.1.1.1").map(|u| u.tls_name),
        Ok(Some("1.1.1.1".into())),
        "an address is the certificate name when none is given"
    );
    assert_eq!(p("tls://[2620:fe::fe]#dns.quad9.net").map(|u| u.addr.port()), Ok(853));
    for bad in [
        "",
        "dns.quad9.net",
        "9.9.9.9#name",
        "tls://9.9.9.9#",
        "tls://#x",
        "tls://9.9.9.9#bad name!",
    ] {
        assert!(p(bad).is_err(), "{bad:?} must be refused");
    }
    assert_eq!(
        UpstreamAddr::tls("9.9.9.9:853".parse().expect("addr"), "dns.quad9.net").to_string(),
        "tls://9.9.9.9:853#dns.quad9.net"
    );
}
