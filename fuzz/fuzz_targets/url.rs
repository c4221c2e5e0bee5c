//! Any text as a URL entry, a policy entry and a request: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{GroupPolicy, LocalTime, Request, SnapshotBuilder, UrlEntry};
use std::sync::OnceLock;

fn snapshot() -> &'static policy::Snapshot {
    static S: OnceLock<policy::Snapshot> = OnceLock::new();
    S.get_or_init(|| {
        let mut b = SnapshotBuilder::new(1);
        let parsed = policy::list::parse_list("f", policy::ListFormat::Urls, &b"example.com/games\nexample.org\n"[..]);
        b.add_list(policy::ListInfo::new("f/games", "f", policy::Category::Games, false), &parsed);
        let p = GroupPolicy { block: vec!["games".into()], safe_search: true, ..GroupPolicy::default() };
        b.add_group("G", &p.check("G").expect("valid"), true);
        b.build()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(u) = UrlEntry::parse(&text) {
        assert!(u.path.starts_with('/'), "{u:?}");
    }
    let _ = policy::rules::ListEntry::parse(&text);
    let _ = policy::rules::TimeRule::parse_line(&text);
    let s = snapshot();
    let g = s.group("G").expect("group");
    let (host, path) = match text.find('/') {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (&text[..], None),
    };
    let d = s.decide(&Request { host, path, group: g, at: LocalTime::new(data.first().copied().unwrap_or(0) % 7, 10, 0) });
    let _ = s.reason(&d, &text);
});
