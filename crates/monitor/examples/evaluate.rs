//! Precision and recall of the shipped lexicon on the labelled search terms in
//! `tests/data/`: `labelled_searches.tsv` (the development set, whose misses were used to
//! extend the lexicon) and `labelled_searches_holdout.tsv` (held out: never used for
//! tuning). Both were written for this project without looking at the lexicon. A term
//! counts as flagged in a category when its most severe match is in that category.
//!
//!     cargo run --release -p schoolgate-monitor --example evaluate [-- --misses]
//!
//! `--misses` lists the development set's mistakes.

use monitor::evaluate::{evaluate, read_labelled};

fn main() {
    let matcher = match monitor::Matcher::new(monitor::default_lexicon(), &[]) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let misses = std::env::args().any(|a| a == "--misses");
    for name in ["labelled_searches.tsv", "labelled_searches_holdout.tsv"] {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let labelled = match std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| read_labelled(name, &t))
        {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let scores = evaluate(&matcher, &labelled);
        println!("### {name} ({} terms)\n", labelled.len());
        println!("{}", scores.table());
        // The held-out set's misses are not printed: reading them would make it a second
        // development set.
        if misses && name == "labelled_searches.tsv" {
            for (term, want, got) in &scores.mistakes {
                println!("{want:>16} -> {got:<16} {term}");
            }
        }
    }
}
