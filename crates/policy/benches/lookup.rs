//! Policy engine benchmarks on all of `../shared/data/blocklists`.
//!
//! Run: `cargo bench -p schoolgate-policy --bench lookup`. Besides criterion's timings it
//! prints the measured heap bytes per domain entry of the compiled snapshot and of the
//! `HashMap<String, Category>` baseline (a counting allocator, not an estimate), and the
//! snapshot build time. Figures are written down in BENCHMARKS.md.

// The counting allocator below is the only unsafe code in schoolgate: it is how the
// benchmark measures memory rather than estimating it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policy::list::parse_list;
use policy::mapping::Target;
use policy::{Category, CategoryMap, ListFormat, ListInfo, LocalTime, ParsedList, Request, SnapshotBuilder, Verdict};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn root() -> PathBuf {
    std::env::var_os("SCHOOLGATE_BLOCKLISTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/blocklists"))
}

/// (list name, category, parsed) for every category folder of every source.
fn load(root: &Path) -> Vec<(String, Category, ParsedList)> {
    let map = CategoryMap::default();
    let mut out = Vec::new();
    let mut sources: Vec<_> = std::fs::read_dir(root)
        .expect("blocklists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    for source in sources {
        let sname = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut cats: Vec<_> = std::fs::read_dir(&source)
            .expect("source")
            .flatten()
            .map(|e| e.path())
            .collect();
        cats.sort();
        for cat in cats {
            let cname = cat
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(Target::Category(c)) = map.resolve(&sname, &cname) else {
                continue;
            };
            for (file, format) in [("domains", ListFormat::Domains), ("urls", ListFormat::Urls)] {
                if let Ok(bytes) = std::fs::read(cat.join(file)) {
                    out.push((
                        format!("{sname}/{cname}"),
                        c,
                        parse_list(file, format, bytes.as_slice()),
                    ));
                }
            }
        }
    }
    out
}

fn build(lists: &[(String, Category, ParsedList)]) -> policy::Snapshot {
    let mut b = SnapshotBuilder::new(0x0123_4567_89ab_cdef);
    for (name, c, parsed) in lists {
        b.add_list(ListInfo::new(name, "bench", *c, false), parsed);
    }
    for (name, p) in policy::rules::defaults() {
        b.add_group(name, &p.check(name).expect("valid"), true);
    }
    b.build()
}

/// A cheap deterministic generator, so every run asks the same questions.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Hosts in equal thirds: listed in a category KS2 blocks; allowed (well-known sites and
/// hosts listed in categories KS2 allows); unknown. Each gets `www.`, `m.`, deeper or no
/// subdomains.
fn hosts(lists: &[(String, Category, ParsedList)], blocked: policy::CategorySet, n: usize, seed: u64) -> Vec<String> {
    let mut rng = Lcg(seed);
    let pick = |want_blocked: bool| -> Vec<&str> {
        lists
            .iter()
            .filter(|(_, c, _)| blocked.contains(*c) == want_blocked)
            .flat_map(|(_, _, p)| p.domains.iter().map(|d| d.as_str()))
            .collect()
    };
    let bad = pick(true);
    let ok = pick(false);
    let famous = [
        "www.bbc.co.uk",
        "www.gov.uk",
        "en.wikipedia.org",
        "www.google.com",
        "classroom.google.com",
        "www.youtube.com",
        "login.microsoftonline.com",
        "www.oxfordowl.co.uk",
        "www.topmarks.co.uk",
        "outlook.office365.com",
    ];
    let prefixes = ["", "www.", "www.", "m.", "cdn.static.", "a.b.c."];
    (0..n)
        .map(|i| {
            let prefix = prefixes[(rng.next() as usize) % prefixes.len()];
            match i % 3 {
                0 => format!("{prefix}{}", bad[(rng.next() as usize) % bad.len()]),
                1 if i % 2 == 0 => famous[(rng.next() as usize) % famous.len()].to_owned(),
                1 => format!("{prefix}{}", ok[(rng.next() as usize) % ok.len()]),
                _ => format!(
                    "{prefix}site{}.example-{}.com",
                    rng.next() % 1_000_000,
                    rng.next() % 100
                ),
            }
        })
        .collect()
}

/// A school's traffic: 300,000 questions about a working set of 20,000 hosts, drawn with
/// Zipf-distributed popularity (s = 1), as DNS traffic is.
fn school_mix(lists: &[(String, Category, ParsedList)], blocked: policy::CategorySet) -> Vec<String> {
    let pool = hosts(lists, blocked, 20_000, 42);
    let weights: Vec<f64> = (1..=pool.len()).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(pool.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cumulative.push(acc);
    }
    let mut rng = Lcg(99);
    (0..300_000)
        .map(|_| {
            let u = (rng.next() as f64) / ((1u64 << 31) as f64);
            let i = cumulative.partition_point(|&c| c < u).min(pool.len() - 1);
            pool[i].clone()
        })
        .collect()
}

/// The straightforward way: a `HashMap<String, Category>` and a suffix walk that slices the
/// name at each dot. Lower-casing is left out, which flatters it.
fn baseline_build(lists: &[(String, Category, ParsedList)]) -> HashMap<String, Category> {
    let mut m = HashMap::new();
    for (_, c, p) in lists {
        for d in &p.domains {
            m.entry(d.as_str().to_owned()).or_insert(*c);
        }
    }
    m
}

fn baseline_lookup(m: &HashMap<String, Category>, blocked: policy::CategorySet, host: &str) -> bool {
    let mut rest = host;
    loop {
        if let Some(c) = m.get(rest) {
            return blocked.contains(*c);
        }
        match rest.find('.') {
            Some(i) => rest = &rest[i + 1..],
            None => return false,
        }
    }
}

fn benches(c: &mut Criterion) {
    let root = root();
    if !root.is_dir() {
        eprintln!("SKIPPED: {} is not here (set SCHOOLGATE_BLOCKLISTS)", root.display());
        return;
    }
    let t = Instant::now();
    let lists = load(&root);
    let parse_time = t.elapsed();
    let domain_entries: usize = lists.iter().map(|l| l.2.domains.len()).sum();
    let url_entries: usize = lists.iter().map(|l| l.2.urls.len()).sum();

    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let snapshot = build(&lists);
    let build_time = t.elapsed();
    let snapshot_bytes = LIVE.load(Ordering::Relaxed) - before;

    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let baseline = baseline_build(&lists);
    let baseline_time = t.elapsed();
    let baseline_bytes = LIVE.load(Ordering::Relaxed) - before;

    let ks2 = snapshot.group("KS2").expect("KS2");
    let blocked = policy::CategorySet::of(
        &policy::rules::defaults()[2]
            .1
            .check("KS2")
            .expect("valid")
            .block
            .iter()
            .collect::<Vec<_>>(),
    );
    let at = LocalTime::new(2, 10, 0);

    println!("\n== schoolgate policy snapshot over {} ==", root.display());
    println!(
        "lists: {} | domain entries: {domain_entries} | URL entries: {url_entries}",
        lists.len()
    );
    println!("parse all lists: {:.3} s", parse_time.as_secs_f64());
    println!(
        "build snapshot:  {:.3} s   (HashMap baseline build: {:.3} s)",
        build_time.as_secs_f64(),
        baseline_time.as_secs_f64()
    );
    println!(
        "heap: snapshot {:.1} MiB = {:.1} bytes per domain entry (all indexes, URL tables and policies included)",
        snapshot_bytes as f64 / 1048576.0,
        snapshot_bytes as f64 / domain_entries as f64
    );
    println!(
        "heap: HashMap<String, Category> {:.1} MiB = {:.1} bytes per domain entry",
        baseline_bytes as f64 / 1048576.0,
        baseline_bytes as f64 / baseline.len() as f64
    );

    for (title, qs) in [
        (
            "domain lookups, school mix (KS2, Zipf over 20k hosts)",
            school_mix(&lists, blocked),
        ),
        (
            "domain lookups, worst case (KS2, uniform over every list entry)",
            hosts(&lists, blocked, 300_000, 7),
        ),
    ] {
        let engine_blocks = qs
            .iter()
            .filter(|h| {
                snapshot
                    .decide(&Request {
                        host: h,
                        path: None,
                        group: ks2,
                        at,
                    })
                    .verdict
                    == Verdict::Block
            })
            .count();
        let base_blocks = qs.iter().filter(|h| baseline_lookup(&baseline, blocked, h)).count();
        println!(
            "{title}: {} questions; blocked by the engine {engine_blocks}, by the baseline {base_blocks}",
            qs.len()
        );
        let mut g = c.benchmark_group(title);
        g.throughput(Throughput::Elements(qs.len() as u64));
        g.bench_function("schoolgate snapshot", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for h in &qs {
                    n += usize::from(
                        snapshot
                            .decide(&Request {
                                host: h,
                                path: None,
                                group: ks2,
                                at,
                            })
                            .verdict
                            == Verdict::Block,
                    );
                }
                black_box(n)
            })
        });
        g.bench_function("HashMap<String, Category> suffix walk", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for h in &qs {
                    n += usize::from(baseline_lookup(&baseline, blocked, h));
                }
                black_box(n)
            })
        });
        g.finish();
    }

    // URL lookups: UT1 URL entries and their hosts with other paths.
    let mut rng = Lcg(7);
    let url_list: Vec<(String, String)> = lists
        .iter()
        .flat_map(|(_, _, p)| p.urls.iter().map(|u| (u.host.to_string(), u.path.clone())))
        .collect();
    let urls: Vec<(String, String)> = (0..100_000)
        .map(|i| {
            let (h, p) = &url_list[(rng.next() as usize) % url_list.len()];
            match i % 3 {
                0 => (h.clone(), p.clone()),
                1 => (h.clone(), format!("{p}/more/page.html")),
                _ => (h.clone(), "/index.html".to_owned()),
            }
        })
        .collect();
    let mut g = c.benchmark_group("URL lookups (KS2, host and path)");
    g.throughput(Throughput::Elements(urls.len() as u64));
    g.bench_function("schoolgate snapshot", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (h, p) in &urls {
                n += usize::from(
                    snapshot
                        .decide(&Request {
                            host: h,
                            path: Some(p),
                            group: ks2,
                            at,
                        })
                        .verdict
                        == Verdict::Block,
                );
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("snapshot from all shared lists (parsed)", |b| {
        b.iter(|| black_box(build(&lists)))
    });
    g.finish();
}

criterion_group!(lookup, benches);
criterion_main!(lookup);
