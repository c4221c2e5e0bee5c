//! Any bytes as a DNS request from any client: an answer or nothing, never a panic, and any
//! answer decodes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (tokio::runtime::Runtime, dns::Handler) {
    static S: OnceLock<(tokio::runtime::Runtime, dns::Handler)> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut b = policy::SnapshotBuilder::new(1);
        let parsed = policy::list::parse_list("f", policy::ListFormat::Domains, &b"games.example\n"[..]);
        b.add_list(policy::ListInfo::new("f/games", "f", policy::Category::Games, false), &parsed);
        let p = policy::GroupPolicy { block: vec!["games".into()], safe_search: true, ..policy::GroupPolicy::default() };
        b.add_group("unidentified", &p.check("unidentified").expect("valid"), true);
        let handler = dns::Handler {
            engine: Arc::new(policy::Engine::new(b.build())),
            attribution: Arc::new(dns::Attribution::new(vec![], "unidentified")),
            // No upstreams: allowed names get SERVFAIL at once, and nothing leaves the machine.
            upstreams: dns::Upstreams::new(&[], Duration::from_millis(10)),
            cache: dns::cache::AnswerCache::new(1000, Duration::from_secs(60)),
            block: dns::BlockMode::BlockPage { v4: Ipv4Addr::new(10, 0, 0, 1), v6: None },
            fallback_group: "unidentified".into(),
        };
        (rt, handler)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, handler) = setup();
    for udp in [true, false] {
        if let Some((reply, _)) = rt.block_on(handler.handle(data, IpAddr::V4(Ipv4Addr::LOCALHOST), udp)) {
            assert!(hickory_proto::op::Message::from_vec(&reply).is_ok(), "our answers decode");
            if udp {
                assert!(reply.len() <= 4096);
            }
        }
    }
});
