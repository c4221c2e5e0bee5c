//! Text scanned per second with the full default lexicon, normalisation included, beside a
//! plain aho-corasick DFA over the same phrases without normalisation (issue 6 asks for
//! both in one run). The text is the two real school policies in `../shared/policies`
//! (English prose about online safety, so full of near-misses), repeated to 8 MiB; without
//! them, a built-in paragraph.
//!
//!     cargo bench -p schoolgate-monitor --bench scan

use std::hint::black_box;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monitor::{Matcher, default_lexicon, normalise};

fn corpus() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/policies");
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    if text.is_empty() {
        text = "Pupils must not share passwords. The online safety lead reviews the filtering \
                and monitoring reports every week, and concerns go to the designated \
                safeguarding lead the same day. "
            .repeat(64);
    }
    let mut big = String::with_capacity(8 << 20);
    while big.len() < 8 << 20 {
        big.push_str(&text);
        big.push('\n');
    }
    big
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    let entries = default_lexicon();
    let matcher = Matcher::new(entries.clone(), &[]).expect("lexicon");
    let raw = AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::DFA))
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(true)
        .build(entries.iter().map(|e| e.phrase.as_str()))
        .expect("automaton");
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.bench_function("schoolgate: normalise + match", |b| {
        b.iter(|| black_box(matcher.scan(black_box(&text))).len())
    });
    g.bench_function("normalise only", |b| {
        b.iter(|| black_box(normalise(black_box(&text))).text.len())
    });
    g.bench_function("plain aho-corasick DFA, no normalisation", |b| {
        b.iter(|| raw.find_overlapping_iter(black_box(&text)).count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
