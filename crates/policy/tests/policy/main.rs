//! The engine's semantics as tables: precedence between every pair of rule kinds,
//! subdomain and path matching, IDN, time rules, safe search, fail-closed behaviour and
//! snapshot swaps. Cited requirements are from STANDARDS.md.

mod props;
mod shared_data;

use policy::list::parse_list;
use policy::rules::{TimeEffect, TimeRule};
use policy::{
    Category, GroupPolicy, ListFormat, ListInfo, LocalTime, Request, Rule, Snapshot, SnapshotBuilder, Verdict,
};

const MONDAY_10AM: LocalTime = LocalTime {
    weekday: 0,
    minute: 600,
};

pub fn list(b: &mut SnapshotBuilder, name: &str, cat: Category, illegal: bool, format: ListFormat, text: &str) {
    let parsed = parse_list(name, format, text.as_bytes());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    b.add_list(
        ListInfo::new(name, name.split('/').next().unwrap_or(name), cat, illegal),
        &parsed,
    );
}

/// A snapshot with one of every kind of rule.
pub fn fixture() -> Snapshot {
    let mut b = SnapshotBuilder::new(0x5eed);
    list(
        &mut b,
        "iwf/urls",
        Category::IllegalContent,
        true,
        ListFormat::Urls,
        "illegal-pages.example/bad/page\n",
    );
    list(
        &mut b,
        "ctiru/domains",
        Category::IllegalContent,
        true,
        ListFormat::Domains,
        "terror.example\n",
    );
    list(
        &mut b,
        "ut1/games",
        Category::Games,
        false,
        ListFormat::Domains,
        "games.example\nplay.example\n",
    );
    list(
        &mut b,
        "ut1/games-urls",
        Category::Games,
        false,
        ListFormat::Urls,
        "portal.example/games\n",
    );
    list(
        &mut b,
        "ut1/social",
        Category::SocialNetworks,
        false,
        ListFormat::Domains,
        "social.example\n",
    );
    list(
        &mut b,
        "ut1/education",
        Category::Education,
        false,
        ListFormat::Domains,
        "learn.games.example\nkids.example\n",
    );
    list(
        &mut b,
        "ut1/adult",
        Category::Adult,
        false,
        ListFormat::Domains,
        "adult.example\nbücher.example\n",
    );
    list(
        &mut b,
        "ut1/news",
        Category::News,
        false,
        ListFormat::Domains,
        "news.example\n",
    );
    let ks2 = GroupPolicy {
        block: vec!["games".into(), "adult".into(), "social_networks".into()],
        allow: vec![
            "play.example".into(),
            "terror.example".into(),
            "portal.example/games/maths".into(),
            "google.co.uk".into(),
        ],
        deny: vec![
            "news.example".into(),
            "play.example".into(),
            "wiki.example/forbidden".into(),
        ],
        safe_search: true,
        ..GroupPolicy::default()
    };
    let eyfs = GroupPolicy {
        allow_categories: vec!["education".into()],
        allow: vec!["cbeebies.example".into()],
        default: policy::rules::DefaultVerdict::Deny,
        safe_search: true,
        ..GroupPolicy::default()
    };
    let staff = GroupPolicy {
        block: vec!["adult".into()],
        time_rules: vec![TimeRule {
            effect: TimeEffect::Block,
            categories: vec!["social_networks".into()],
            days: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| d.to_string())
                .collect(),
            from: "08:45".into(),
            to: "15:30".into(),
        }],
        ..GroupPolicy::default()
    };
    let everything = GroupPolicy {
        allow: vec!["terror.example".into(), "illegal-pages.example".into()],
        ..GroupPolicy::default()
    };
    for (name, p, pupil) in [
        ("KS2", ks2, true),
        ("EYFS", eyfs, true),
        ("Staff", staff, false),
        ("Open", everything, false),
    ] {
        b.add_group(name, &p.check(name).expect("valid"), pupil);
    }
    b.build()
}

pub fn ask(s: &Snapshot, group: &str, target: &str, at: LocalTime) -> policy::Decision {
    let g = s.group(group).expect("group");
    let (host, path) = match target.find('/') {
        Some(i) => (&target[..i], Some(&target[i..])),
        None => (target, None),
    };
    s.decide(&Request {
        host,
        path,
        group: g,
        at,
    })
}

macro_rules! cases {
    ($s:expr; $( $group:literal $target:literal => $verdict:ident $(($host:literal))?, $rule:literal $(, $cat:ident)? ; )*) => {$(
        let d = ask(&$s, $group, $target, MONDAY_10AM);
        let want = cases!(@verdict $verdict $(, $host)?);
        assert_eq!(d.verdict, want, "{} {}: {}", $group, $target, $s.reason(&d, $target));
        assert_eq!(d.rule.kind(), $rule, "{} {}: {}", $group, $target, $s.rule_name(&d));
        $( assert_eq!(d.category, Some(Category::$cat), "{} {}", $group, $target); )?
    )*};
    (@verdict Allow) => { Verdict::Allow };
    (@verdict Block) => { Verdict::Block };
    (@verdict SafeSearch, $h:literal) => { Verdict::SafeSearch($h) };
}

#[test]
fn precedence_between_every_pair_of_rule_kinds() {
    let s = fixture();
    cases! { s;
        // illegal content beats the allow list, even in a policy that allows it (UKSIC-F-IL-03, DFE-FM-3.01)
        "KS2" "terror.example" => Block, "illegal_content", IllegalContent;
        "Open" "www.terror.example" => Block, "illegal_content", IllegalContent;
        "Open" "illegal-pages.example/bad/page" => Block, "illegal_content", IllegalContent;
        // allow beats deny, and allow beats a blocked category
        "KS2" "play.example" => Allow, "allow_list", Games;
        "KS2" "www.play.example" => Allow, "allow_list";
        // deny beats a category the group does not block, and the default
        "KS2" "news.example" => Block, "deny_list", News;
        "KS2" "unlisted.example" => Allow, "default";
        // a blocked category beats the default
        "KS2" "games.example" => Block, "category", Games;
        "KS2" "social.example" => Block, "category", SocialNetworks;
        // walled garden: allow list, then allowed categories, then nothing
        "EYFS" "cbeebies.example" => Allow, "allow_list";
        "EYFS" "kids.example" => Allow, "allowed_category", Education;
        "EYFS" "news.example" => Block, "walled_garden";
        "EYFS" "unlisted.example" => Block, "walled_garden";
        // a listed category the group does not block
        "Staff" "games.example" => Allow, "default", Games;
        "Staff" "adult.example" => Block, "category", Adult;
    }
}

#[test]
fn the_most_specific_entry_wins_and_domains_cover_their_subdomains() {
    let s = fixture();
    cases! { s;
        "KS2" "games.example" => Block, "category", Games;
        "KS2" "www.games.example" => Block, "category", Games;
        "KS2" "a.b.c.games.example" => Block, "category", Games;
        "KS2" "learn.games.example" => Allow, "default", Education;
        "KS2" "deep.learn.games.example" => Allow, "default", Education;
        "KS2" "notgames.example" => Allow, "default";
        "KS2" "games.example.evil" => Allow, "default";
        "KS2" "GAMES.Example." => Block, "category", Games;
    }
}

#[test]
fn url_entries_cover_their_host_and_path_prefix_only() {
    let s = fixture();
    cases! { s;
        "KS2" "portal.example/games" => Block, "category", Games;
        "KS2" "portal.example/games/chess?level=2" => Block, "category", Games;
        "KS2" "portal.example/gamesmaster" => Allow, "default";
        "KS2" "portal.example/homework" => Allow, "default";
        "KS2" "www.portal.example/games" => Allow, "default";
        // an allow-list URL prefix inside a blocked path
        "KS2" "portal.example/games/maths/times-tables" => Allow, "allow_list";
        "KS2" "wiki.example/forbidden/page" => Block, "deny_list";
        "KS2" "wiki.example/allowed" => Allow, "default";
        // an illegal URL blocks that page, not the whole site, when the page is known
        "KS2" "illegal-pages.example/bad/page" => Block, "illegal_content", IllegalContent;
        "KS2" "illegal-pages.example/good/page" => Allow, "default";
    }
    // DNS cannot see the page: the host is blocked (IWF-01) and the reason says why.
    let d = ask(&s, "KS2", "illegal-pages.example", MONDAY_10AM);
    assert_eq!(d.rule.kind(), "illegal_content");
    assert!(matches!(d.rule, Rule::IllegalPagesOnHost { .. }));
    assert!(
        s.reason(&d, "illegal-pages.example")
            .contains("cannot tell its pages apart")
    );
}

#[test]
fn illegal_content_decisions_never_name_their_list_or_entry() {
    let s = fixture();
    for target in [
        "terror.example",
        "illegal-pages.example/bad/page",
        "illegal-pages.example",
    ] {
        let d = ask(&s, "Open", target, MONDAY_10AM);
        assert!(d.is_illegal());
        let shown = format!("{} {}", s.rule_name(&d), s.reason(&d, target));
        assert!(
            !shown.contains("iwf") && !shown.contains("ctiru") && !shown.contains("/bad/page"),
            "{shown}"
        );
    }
}

#[test]
fn international_names_match_their_punycode_form() {
    let s = fixture();
    cases! { s;
        "KS2" "xn--bcher-kva.example" => Block, "category", Adult;
        "KS2" "www.XN--BCHER-KVA.example" => Block, "category", Adult;
    }
}

#[test]
fn time_rules_apply_at_their_edges() {
    let s = fixture();
    for (at, blocked) in [
        (LocalTime::new(0, 8, 44), false),
        (LocalTime::new(0, 8, 45), true),
        (LocalTime::new(2, 12, 0), true),
        (LocalTime::new(4, 15, 29), true),
        (LocalTime::new(4, 15, 30), false),
        (LocalTime::new(5, 10, 0), false),
        (LocalTime::new(6, 10, 0), false),
    ] {
        let d = ask(&s, "Staff", "social.example", at);
        assert_eq!(
            d.verdict == Verdict::Block,
            blocked,
            "{at:?}: {}",
            s.reason(&d, "social.example")
        );
        if blocked {
            assert_eq!(
                s.reason(&d, "social.example"),
                "social.example is listed as Social networks, which Staff blocks between 08:45 and 15:30 on weekdays."
            );
        }
    }
}

#[test]
fn safe_search_is_enforced_on_allowed_search_engines_even_on_the_allow_list() {
    let s = fixture();
    cases! { s;
        "KS2" "www.google.com" => SafeSearch("forcesafesearch.google.com"), "default";
        "KS2" "google.co.uk" => SafeSearch("forcesafesearch.google.com"), "allow_list";
        "KS2" "www.youtube.com" => SafeSearch("restrict.youtube.com"), "default";
        "KS2" "www.bing.com" => SafeSearch("strict.bing.com"), "default";
        "KS2" "duckduckgo.com" => SafeSearch("safe.duckduckgo.com"), "default";
        "KS2" "maps.google.com" => Allow, "default";
        "Staff" "www.google.com" => Allow, "default";
    }
}

#[test]
fn a_fail_closed_snapshot_gives_pupils_only_their_allow_list() {
    let mut b = SnapshotBuilder::new(1).fail_closed();
    for (name, p) in policy::rules::defaults() {
        let pupil = matches!(name, "EYFS" | "KS1" | "KS2" | "unidentified");
        b.add_group(name, &p.check(name).expect("valid"), pupil);
    }
    let s = b.build();
    assert_eq!(ask(&s, "KS2", "anything.example", MONDAY_10AM).verdict, Verdict::Block);
    assert_eq!(ask(&s, "EYFS", "www.bbc.co.uk", MONDAY_10AM).verdict, Verdict::Allow);
    assert_eq!(
        ask(&s, "Staff", "anything.example", MONDAY_10AM).verdict,
        Verdict::Allow,
        "staff are not pupils"
    );
}

#[test]
fn reasons_read_as_sentences() {
    let s = fixture();
    let r = |g, t| {
        let d = ask(&s, g, t, MONDAY_10AM);
        s.reason(&d, t)
    };
    assert_eq!(
        r("KS2", "games.example"),
        "games.example is listed as Games, which KS2 blocks."
    );
    assert_eq!(
        r("KS2", "play.example"),
        "KS2's allow list includes play.example, so it is allowed."
    );
    assert_eq!(r("KS2", "news.example"), "KS2's block list includes news.example.");
    assert_eq!(
        r("EYFS", "news.example"),
        "EYFS can only use the sites chosen for it, and news.example is not one of them."
    );
    assert_eq!(
        r("KS2", "unlisted.example"),
        "Nothing in KS2's policy blocks unlisted.example."
    );
    assert!(
        r("KS2", "www.google.com")
            .ends_with("Safe search is on for KS2, so searches go through forcesafesearch.google.com.")
    );
    let d = ask(&s, "KS2", "games.example", MONDAY_10AM);
    assert_eq!(s.rule_name(&d), "category games (list ut1/games)");
}

#[test]
fn empty_and_unknown_requests_are_blocked_not_panicked() {
    let s = fixture();
    let g = s.group("KS2").expect("group");
    for host in ["", ".", "..", "a..b"] {
        let d = s.decide(&Request {
            host,
            path: None,
            group: g,
            at: MONDAY_10AM,
        });
        assert!(d.verdict == Verdict::Block || d.verdict == Verdict::Allow, "{host:?}");
    }
    assert_eq!(
        s.decide(&Request {
            host: "",
            path: None,
            group: g,
            at: MONDAY_10AM
        })
        .rule,
        Rule::InvalidHost
    );
    let nobody = policy::GroupId(999);
    assert_eq!(
        s.decide(&Request {
            host: "a.example",
            path: None,
            group: nobody,
            at: MONDAY_10AM
        })
        .verdict,
        Verdict::Block
    );
}

#[test]
fn a_snapshot_swap_under_concurrent_lookups_never_mixes_or_stalls_them() {
    let engine = std::sync::Arc::new(policy::Engine::new(fixture()));
    let build = |block_games: bool| {
        let mut b = SnapshotBuilder::new(9);
        list(
            &mut b,
            "ut1/games",
            Category::Games,
            false,
            ListFormat::Domains,
            "games.example\n",
        );
        let p = GroupPolicy {
            block: if block_games { vec!["games".into()] } else { vec![] },
            ..GroupPolicy::default()
        };
        b.add_group("KS2", &p.check("KS2").expect("valid"), true);
        b.build()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let s = engine.snapshot();
                    let g = s.group("KS2").expect("every snapshot has KS2");
                    let d = s.decide(&Request {
                        host: "games.example",
                        path: None,
                        group: g,
                        at: MONDAY_10AM,
                    });
                    assert_eq!(d.category, Some(Category::Games));
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..200 {
        engine.replace(build(i % 2 == 0));
    }
    let failed: Result<(), &str> = engine.reload(|| Err("a list could not be read"));
    assert!(failed.is_err());
    let s = engine.snapshot();
    let g = s.group("KS2").expect("group");
    assert_eq!(
        s.decide(&Request {
            host: "games.example",
            path: None,
            group: g,
            at: MONDAY_10AM
        })
        .verdict,
        Verdict::Allow,
        "the last good snapshot stays"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
}

#[test]
fn allow_entries_that_cover_illegal_content_are_found_for_refusal() {
    let s = fixture();
    let entries: Vec<policy::rules::ListEntry> = [
        "terror.example",
        "www.terror.example",
        "example",
        "illegal-pages.example/bad",
        "illegal-pages.example/good",
        "fine.example",
    ]
    .iter()
    .map(|e| policy::rules::ListEntry::parse(e).expect("valid"))
    .collect();
    assert_eq!(
        s.illegal_conflicts(&entries),
        [
            "terror.example",
            "www.terror.example",
            "example",
            "illegal-pages.example/bad"
        ]
    );
}

#[test]
fn a_site_unblocked_for_one_person_is_allowed_for_them_alone_and_never_illegal_content() {
    let mut b = SnapshotBuilder::new(9);
    list(
        &mut b,
        "ut1/games",
        Category::Games,
        false,
        ListFormat::Domains,
        "games.example\n",
    );
    list(
        &mut b,
        "ctiru/domains",
        Category::IllegalContent,
        true,
        ListFormat::Domains,
        "terror.example\n",
    );
    let pupils = GroupPolicy {
        block: vec!["games".into()],
        ..GroupPolicy::default()
    };
    b.add_group("KS2", &pupils.check("KS2").expect("valid"), true);
    let entries = ["games.example/maths-quiz", "terror.example"]
        .iter()
        .map(|e| policy::rules::ListEntry::parse(e).expect("entry"))
        .collect();
    b.add_person_allow("ZHart", entries);
    let s = b.build();
    let g = s.group("KS2").expect("group");
    let at = MONDAY_10AM;
    let ask = |host: &str, path: Option<&str>, who: Option<&str>| {
        s.decide_for(
            &Request {
                host,
                path,
                group: g,
                at,
            },
            who,
        )
    };
    let d = ask("games.example", Some("/maths-quiz/level1"), Some("zhart"));
    assert_eq!((d.verdict, d.rule.kind()), (Verdict::Allow, "person_allow"));
    assert_eq!(d.category, Some(Category::Games), "still says what the site is");
    assert!(s.reason(&d, "games.example").contains("unblocked for you"));
    assert_eq!(
        ask("games.example", Some("/arcade"), Some("zhart")).verdict,
        Verdict::Block,
        "only that page"
    );
    assert_eq!(
        ask("games.example", Some("/maths-quiz"), Some("apatel")).verdict,
        Verdict::Block,
        "only that person"
    );
    assert_eq!(ask("games.example", Some("/maths-quiz"), None).verdict, Verdict::Block);
    let illegal = ask("terror.example", None, Some("zhart"));
    assert_eq!(
        (illegal.verdict, illegal.rule.kind()),
        (Verdict::Block, "illegal_content")
    );
}
