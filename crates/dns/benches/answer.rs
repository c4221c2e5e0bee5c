//! The cost of one question on the paths the socket loop answers itself: a cached allowed
//! name and a blocked name. The whole-server comparison with dnsmasq and unbound is
//! `bench/dns/run.sh`; this measures the handler alone, without dnsperf, the peers or the
//! event writer sharing the cores, so that a change to the hot path shows up clearly.
//!
//! `cargo bench -p schoolgate-dns --bench answer`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dns::cache::{AnswerCache, Key};
use dns::{Attribution, BlockMode, Handler, Prepared, Upstreams};
use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, rdata::A};
use policy::{Category, GroupPolicy, ListFormat, ListInfo, SnapshotBuilder};

fn handler() -> Handler {
    let mut b = SnapshotBuilder::new(7);
    let games = policy::list::parse_list("games", ListFormat::Domains, &b"games.example.org\n"[..]);
    b.add_list(ListInfo::new("t/games", "t", Category::Games, false), &games);
    let pupils = GroupPolicy {
        block: vec!["games".into()],
        ..GroupPolicy::default()
    };
    b.add_group("unidentified", &pupils.check("unidentified").expect("valid"), true);
    Handler {
        engine: Arc::new(policy::Engine::new(b.build())),
        attribution: Arc::new(Attribution::new(vec![], "unidentified")),
        // Never asked: every question here is answered without an upstream.
        upstreams: Upstreams::new(&[], Duration::from_millis(100)),
        cache: AnswerCache::new(10_000, Duration::from_secs(3600)),
        block: BlockMode::NxDomain,
        fallback_group: "unidentified".into(),
    }
}

fn question(name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), RecordType::A));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m.to_vec().expect("encode")
}

fn answer_for(name: &str) -> Message {
    let n = Name::from_ascii(name).expect("name");
    let mut m = Message::query();
    m.metadata.message_type = MessageType::Response;
    m.add_query(Query::query(n.clone(), RecordType::A));
    m.add_answer(Record::from_rdata(n, 300, RData::A(A(Ipv4Addr::new(10, 0, 0, 1)))));
    m
}

fn bench(c: &mut Criterion) {
    let h = handler();
    let client = IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5));
    let name = "host1.bench.test.";
    h.cache.insert(
        Key {
            name: name.trim_end_matches('.').into(),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        },
        &answer_for(name),
        Instant::now(),
    );
    let cached = question(name);
    // The first answer from an entry is encoded; those after it in the same second reuse it.
    assert!(matches!(h.prepare(&cached, client, true), Prepared::Ready(_, Some(_))));
    c.bench_function("cached allowed name", |b| {
        b.iter(|| match h.prepare(black_box(&cached), client, true) {
            Prepared::Ready(bytes, outcome) => black_box((bytes, outcome)),
            _ => panic!("not answered from the cache"),
        })
    });
    let blocked = question("www.games.example.org.");
    c.bench_function("blocked name", |b| {
        b.iter(|| match h.prepare(black_box(&blocked), client, true) {
            Prepared::Ready(bytes, outcome) => black_box((bytes, outcome)),
            _ => panic!("not blocked"),
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
