//! The matcher with the shipped lexicon: what must be found (in every language it covers,
//! through the tricks children use) and what must not (the Scunthorpe problem).

use monitor::{Category, Matcher, default_lexicon};

fn matcher() -> Matcher {
    Matcher::new(default_lexicon(), &[]).expect("the default lexicon compiles")
}

fn top(m: &Matcher, text: &str) -> Option<(Category, u8)> {
    m.scan(text)
        .into_iter()
        .max_by_key(|x| x.severity)
        .map(|x| (x.category, x.severity))
}

#[test]
fn risky_text_is_found_through_case_spacing_leetspeak_and_repeats() {
    let m = matcher();
    for (text, category, severity) in [
        ("I just want to kill myself tonight", Category::Suicide, 5),
        ("i'm going to k.i.l.l m.y.s.e.l.f", Category::Suicide, 5),
        ("honestly i wanna diiiie", Category::Suicide, 5),
        ("how many pills to die", Category::Suicide, 5),
        ("I started to cut myself again", Category::SelfHarm, 5),
        ("s3lf h4rm tips", Category::SelfHarm, 4),
        ("SELF-HARM", Category::SelfHarm, 4),
        ("pro ana tips thinspo", Category::EatingDisorder, 4),
        ("dont tell your mum about this ok", Category::Grooming, 5),
        ("don't tell your parents", Category::Grooming, 5),
        ("Are you HOME ALONE?", Category::Grooming, 5),
        ("where is the nearest trap house", Category::Grooming, 4),
        ("how to make a b0mb", Category::Violence, 5),
        ("everyone hates you, kys", Category::Bullying, 4),
        ("buy weed near me", Category::Drugs, 3),
        ("free spins online casino", Category::Gambling, 3),
        ("how to bypass school filter", Category::Circumvention, 3),
        ("join isis", Category::Extremism, 4),
    ] {
        let got = top(&m, text);
        assert!(
            got.is_some_and(|(c, s)| c == category && s >= severity),
            "{text:?}: expected {category} at {severity}+, got {got:?}"
        );
    }
}

#[test]
fn every_covered_language_is_found() {
    let m = matcher();
    for (text, category) in [
        ("Nie chcę żyć, zabiję się", Category::Suicide),
        ("nie chce zyc", Category::Suicide),
        ("TNĘ SIĘ co wieczór", Category::SelfHarm),
        ("میں مرنا چاہتا ہوں", Category::Suicide),
        ("کسی کو مت بتانا", Category::Grooming),
        ("main marna chahta hoon yaar", Category::Suicide),
        ("kisi ko mat batana", Category::Grooming),
        ("أريد أن أموت", Category::Suicide),
        ("اريد ان اموت", Category::Suicide),
        ("إيذاء النفس", Category::SelfHarm),
        ("vreau sa mor", Category::Suicide),
        ("Vreau să mor", Category::Suicide),
        ("nu le spune parintilor", Category::Grooming),
        ("ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦੀ ਹਾਂ", Category::Suicide),
        ("ਕਿਸੇ ਨੂੰ ਨਾ ਦੱਸੀਂ", Category::Grooming),
    ] {
        assert_eq!(top(&m, text).map(|t| t.0), Some(category), "{text:?}");
    }
}

#[test]
fn innocent_words_that_contain_risky_ones_are_not_matched() {
    let m = matcher();
    for text in [
        "my therapist says I am doing well",
        "we drove through Scunthorpe to Essex",
        "a cocktail umbrella and a shuttlecock",
        "the maths assessment and the analytics report",
        "Middlesex, Sussex and Wessex",
        "the class hamster is called Sushi",
        "pass the sugar please",
        "I love the classic novels",
        "the title of the grapefruit",
        "she's a specialist in cockatoos",
        "bass guitar and a dickens novel",
        "we went to Penistone and Lightwater",
        "grasshopper and the butterfly",
        "killer whales are amazing",
        "he skilled the weeds",
        "therapists and analysts",
        "Dick Whittington pantomime",
        "the class cut out paper shapes",
        "the Sussex Downs and an assassin's creed review",
        "we studied the Suicide Squad film's poster design",
    ] {
        let found: Vec<_> = m.scan(text).into_iter().filter(|f| f.severity >= 3).collect();
        assert!(found.is_empty(), "{text:?} matched {found:?}");
    }
    // Everyday idioms may reach the digest, but never raise an immediate alert.
    for text in [
        "I cut myself on the paper accidentally",
        "this homework makes me want to die of embarrassment lol",
        "suicide prevention week at school",
        "we read about the Samaritans",
        "the weed killer for the garden",
    ] {
        let found: Vec<_> = m.scan(text).into_iter().filter(|f| f.severity >= 4).collect();
        assert!(found.is_empty(), "{text:?} matched {found:?}");
    }
}

#[test]
fn context_words_raise_and_lower_severity_and_matches_point_at_the_original_words() {
    let m = matcher();
    let text = "I want to KILL   myself tonight";
    let found = m.scan(text);
    let hit = found.iter().find(|f| f.category == Category::Suicide).expect("found");
    assert_eq!(hit.severity, 5);
    assert_eq!(&text[hit.start..hit.end], "KILL   myself");
    let joking = m.scan("lol kill myself");
    assert!(joking.iter().all(|f| f.severity <= 4), "{joking:?}");
    let worst = m.worst(&joking).expect("a match");
    let reason = m.reason(worst);
    assert!(reason.contains("lowered by -lol"), "{reason}");
    assert!(reason.starts_with("\"kill myself\" (Suicide, en)"), "{reason}");
}

#[test]
fn a_school_can_switch_categories_off() {
    let m = Matcher::new(default_lexicon(), &[Category::Gambling, Category::Circumvention]).expect("compiles");
    assert!(m.scan("online casino free vpn").is_empty());
    assert!(!m.scan("kill myself").is_empty());
}

/// Issue 6: precision and recall per category on labelled search terms (risky and
/// innocent, seven languages). The figures are in BENCHMARKS.md; this keeps them from
/// falling unnoticed. The development set was used to extend the lexicon; the held-out set
/// never was, so it is held to what the lexicon does on text nobody tuned it for.
#[test]
fn the_lexicon_keeps_its_precision_and_recall_on_labelled_search_terms() {
    use monitor::evaluate::{evaluate, read_labelled};
    let m = matcher();
    let dev = read_labelled("labelled_searches.tsv", include_str!("../data/labelled_searches.tsv")).expect("reads");
    assert!(dev.len() >= 500, "at least 500 labelled terms: {}", dev.len());
    let s = evaluate(&m, &dev);
    let all = s.overall();
    assert!(all.precision() >= 0.93, "development set:\n{}", s.table());
    assert!(all.recall() >= 0.65, "development set:\n{}", s.table());
    assert!(s.innocent_flagged * 100 <= s.innocent * 3, "{}", s.table());

    let held = read_labelled(
        "labelled_searches_holdout.tsv",
        include_str!("../data/labelled_searches_holdout.tsv"),
    )
    .expect("reads");
    let h = evaluate(&m, &held);
    assert!(h.overall().precision() >= 0.8, "held-out set:\n{}", h.table());
    assert!(h.overall().recall() >= 0.4, "held-out set:\n{}", h.table());
    assert!(
        h.innocent_flagged * 100 <= h.innocent * 8,
        "held-out set:\n{}",
        h.table()
    );
}
