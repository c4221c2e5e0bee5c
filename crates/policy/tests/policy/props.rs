//! Property tests for the matching invariants.

use policy::list::parse_list;
use policy::{Category, GroupPolicy, ListFormat, ListInfo, LocalTime, Request, SnapshotBuilder, Verdict};
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 2..5).prop_map(|l| l.join("."))
}

fn snapshot(blocked: &[String]) -> policy::Snapshot {
    let mut b = SnapshotBuilder::new(77);
    let parsed = parse_list("t", ListFormat::Domains, blocked.join("\n").as_bytes());
    b.add_list(ListInfo::new("t/games", "t", Category::Games, false), &parsed);
    let p = GroupPolicy {
        block: vec!["games".into()],
        ..GroupPolicy::default()
    };
    b.add_group("G", &p.check("G").expect("valid"), false);
    b.build()
}

fn blocked(s: &policy::Snapshot, host: &str) -> bool {
    let g = s.group("G").expect("group");
    s.decide(&Request {
        host,
        path: None,
        group: g,
        at: LocalTime::new(0, 9, 0),
    })
    .verdict
        == Verdict::Block
}

proptest! {
    #[test]
    fn a_listed_domain_blocks_every_subdomain_of_it(d in domain(), sub in prop::collection::vec(label(), 0..4)) {
        let s = snapshot(std::slice::from_ref(&d));
        let host = sub.iter().map(|l| format!("{l}.")).collect::<String>() + &d;
        prop_assert!(blocked(&s, &host));
    }

    #[test]
    fn case_and_a_trailing_dot_do_not_matter(d in domain()) {
        let s = snapshot(std::slice::from_ref(&d));
        prop_assert!(blocked(&s, &d.to_uppercase()));
        let dotted = format!("{}.", d);
        prop_assert!(blocked(&s, &dotted));
    }

    #[test]
    fn a_name_is_blocked_only_if_it_is_within_a_listed_domain(listed in prop::collection::vec(domain(), 1..20), asked in domain()) {
        let s = snapshot(&listed);
        let within = listed.iter().any(|l| asked == *l || asked.ends_with(&format!(".{l}")));
        prop_assert_eq!(blocked(&s, &asked), within);
    }

    #[test]
    fn hostile_input_never_panics(host in ".{0,300}", path in proptest::option::of(".{0,100}")) {
        let s = snapshot(&["games.example".to_owned()]);
        let g = s.group("G").expect("group");
        let _ = s.decide(&Request { host: &host, path: path.as_deref(), group: g, at: LocalTime::new(3, 12, 0) });
    }
}
