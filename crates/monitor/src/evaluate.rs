//! Measuring the lexicon: precision and recall per category on a labelled set of texts
//! (`label<TAB>text` a line, `none` for innocent ones). The example `evaluate` prints the
//! table that BENCHMARKS.md quotes; a test keeps the figures from falling.

use std::collections::BTreeMap;

use crate::lexicon::Category;
use crate::matcher::Matcher;

/// One labelled text: its category, or `None` for an innocent one.
pub type Labelled = (Option<Category>, String);

/// Reads the labelled set; a bad line is an error naming its line.
pub fn read_labelled(source: &str, text: &str) -> Result<Vec<Labelled>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, term) = line
            .split_once('\t')
            .ok_or_else(|| format!("{source}:{}: expected `label<TAB>text`", i + 1))?;
        let category = match label.trim() {
            "none" => None,
            l => Some(l.parse::<Category>().map_err(|e| format!("{source}:{}: {e}", i + 1))?),
        };
        out.push((category, term.trim().to_owned()));
    }
    Ok(out)
}

/// Counts for one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Labelled in the category and flagged in it.
    pub true_positive: usize,
    /// Flagged in it, labelled otherwise.
    pub false_positive: usize,
    /// Labelled in it, not flagged in it.
    pub false_negative: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub by_category: BTreeMap<Category, Counts>,
    /// Innocent texts flagged at all.
    pub innocent_flagged: usize,
    pub innocent: usize,
    /// Risky texts flagged in any category / in the right one.
    pub risky_flagged: usize,
    pub risky: usize,
    /// (text, label, what it was flagged as) for every mistake.
    pub mistakes: Vec<(String, String, String)>,
}

/// Flags each text with the category of its most severe match.
pub fn evaluate(matcher: &Matcher, set: &[Labelled]) -> Scores {
    let mut s = Scores::default();
    for c in Category::ALL {
        s.by_category.insert(c, Counts::default());
    }
    for (label, text) in set {
        let found = matcher.scan(text);
        let got = matcher.worst(&found).map(|m| m.category);
        match label {
            None => {
                s.innocent += 1;
                if got.is_some() {
                    s.innocent_flagged += 1;
                }
            }
            Some(_) => {
                s.risky += 1;
                if got.is_some() {
                    s.risky_flagged += 1;
                }
            }
        }
        if got == *label {
            if let Some(c) = label
                && let Some(k) = s.by_category.get_mut(c)
            {
                k.true_positive += 1;
            }
            continue;
        }
        if let Some(c) = got
            && let Some(k) = s.by_category.get_mut(&c)
        {
            k.false_positive += 1;
        }
        if let Some(c) = label
            && let Some(k) = s.by_category.get_mut(c)
        {
            k.false_negative += 1;
        }
        let name = |c: &Option<Category>| c.map(|c| c.name().to_owned()).unwrap_or_else(|| "none".into());
        s.mistakes.push((text.clone(), name(label), name(&got)));
    }
    s
}

impl Scores {
    /// All categories together: flagged in the right category, over all flagged / all risky.
    pub fn overall(&self) -> Counts {
        let mut t = Counts::default();
        for k in self.by_category.values() {
            t.true_positive += k.true_positive;
            t.false_positive += k.false_positive;
            t.false_negative += k.false_negative;
        }
        t
    }

    /// A Markdown table of the figures.
    pub fn table(&self) -> String {
        let mut out = String::from("| category | labelled | flagged right | wrongly flagged | precision | recall |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|\n");
        for (c, k) in &self.by_category {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {:.2} |\n",
                c.label(),
                k.true_positive + k.false_negative,
                k.true_positive,
                k.false_positive,
                k.precision(),
                k.recall()
            ));
        }
        let t = self.overall();
        out.push_str(&format!(
            "| **all categories** | {} | {} | {} | {:.2} | {:.2} |\n",
            t.true_positive + t.false_negative,
            t.true_positive,
            t.false_positive,
            t.precision(),
            t.recall()
        ));
        out.push_str(&format!(
            "\n{} of {} innocent terms flagged ({:.1}%); {} of {} risky terms flagged in some category.\n",
            self.innocent_flagged,
            self.innocent,
            100.0 * ratio(self.innocent_flagged, self.innocent),
            self.risky_flagged,
            self.risky
        ));
        out
    }
}
