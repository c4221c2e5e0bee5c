//! A small authoritative DNS server for the tests: fixed records, a count of what it was
//! asked, UDP and TCP.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

#[derive(Debug)]
pub struct TestUpstream {
    pub addr: SocketAddr,
    asked: Arc<Mutex<HashMap<(String, RecordType), usize>>>,
}

impl TestUpstream {
    pub fn asked(&self, name: &str, t: RecordType) -> usize {
        self.asked
            .lock()
            .expect("lock")
            .get(&(name.to_owned(), t))
            .copied()
            .unwrap_or(0)
    }

    pub async fn start() -> TestUpstream {
        // TCP first, then UDP on its port: a free TCP port's UDP twin can be taken by
        // another test (a server's SO_REUSEPORT sockets), so try a few ports.
        let (udp, tcp, addr) = {
            let mut tries = 0;
            loop {
                let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
                let addr = tcp.local_addr().expect("addr");
                match UdpSocket::bind(addr).await {
                    Ok(udp) => break (udp, tcp, addr),
                    Err(e) if tries < 20 => {
                        tries += 1;
                        eprintln!("UDP port {addr} taken ({e}); another");
                    }
                    Err(e) => panic!("no port free for both UDP and TCP: {e}"),
                }
            }
        };
        let asked = Arc::new(Mutex::new(HashMap::new()));
        let a2 = asked.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..n], &a2, true) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let a3 = asked.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else { continue };
                let a = a3.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    if let Some(reply) = answer(&q, &a, false) {
                        let _ = s.write_all(&(reply.len() as u16).to_be_bytes()).await;
                        let _ = s.write_all(&reply).await;
                    }
                });
            }
        });
        TestUpstream { addr, asked }
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

pub fn answer(q: &[u8], asked: &Mutex<HashMap<(String, RecordType), usize>>, udp: bool) -> Option<Vec<u8>> {
    let req = Message::from_vec(q).ok()?;
    let query = req.queries.first()?.clone();
    let qname = query.name.to_ascii().to_ascii_lowercase();
    *asked.lock().ok()?.entry((qname.clone(), query.query_type)).or_default() += 1;
    let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.add_query(query.clone());
    let rec = |data: RData, ttl: u32| Record::from_rdata(query.name.clone(), ttl, data);
    let answers: Vec<Record> = match (qname.as_str(), query.query_type) {
        ("www.example.org.", RecordType::A) => vec![rec(RData::A(A(Ipv4Addr::new(192, 0, 2, 10))), 2)],
        ("www.example.org.", RecordType::AAAA) => vec![rec(
            RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10))),
            60,
        )],
        ("mail.example.org.", RecordType::MX) => vec![rec(RData::MX(MX::new(10, name("mx.example.org."))), 60)],
        ("games.example.org.", RecordType::A) | ("www.games.example.org.", RecordType::A) => {
            vec![rec(RData::A(A(Ipv4Addr::new(192, 0, 2, 30))), 60)]
        }
        ("forcesafesearch.google.com.", RecordType::A) => vec![rec(RData::A(A(Ipv4Addr::new(216, 239, 38, 120))), 60)],
        ("restrict.youtube.com.", RecordType::A) | ("restrictmoderate.youtube.com.", RecordType::A) => {
            vec![rec(RData::A(A(Ipv4Addr::new(216, 239, 38, 119))), 60)]
        }
        ("strict.bing.com.", RecordType::A) => vec![rec(RData::A(A(Ipv4Addr::new(204, 79, 197, 220))), 60)],
        ("safe.duckduckgo.com.", RecordType::A) => vec![rec(RData::A(A(Ipv4Addr::new(52, 142, 124, 215))), 60)],
        (_, RecordType::A)
            if qname.ends_with("google.co.uk.")
                || qname.ends_with("google.com.")
                || qname.ends_with("youtube.com.") =>
        {
            vec![rec(RData::A(A(Ipv4Addr::new(142, 250, 0, 1))), 60)]
        }
        ("big.example.org.", RecordType::TXT) => (0..20)
            .map(|i| rec(RData::TXT(TXT::new(vec![format!("{i:02} {}", "x".repeat(40))])), 60))
            .collect(),
        _ => vec![],
    };
    if answers.is_empty() {
        m.metadata.response_code = if qname.starts_with("nothing-here") {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        let soa = SOA::new(
            name("ns.example.org."),
            name("hostmaster.example.org."),
            1,
            3600,
            600,
            86400,
            2,
        );
        m.add_authority(Record::from_rdata(name("example.org."), 300, RData::SOA(soa)));
    } else {
        m.insert_answers(answers);
    }
    let bytes = m.to_vec().ok()?;
    if udp && bytes.len() > 512 && req.edns.is_none() {
        let mut t = m.truncate();
        t.metadata.truncation = true;
        return t.to_vec().ok();
    }
    Some(bytes)
}
