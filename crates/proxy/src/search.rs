//! Search terms from search engines' URLs: one table of engine, host and query parameter,
//! so that a term typed into any of them is kept with the event for monitoring
//! (UKSIC-F-IC-12: the categories apply to search queries too).

/// A search term and the engine it was typed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    pub engine: &'static str,
    pub term: String,
}

/// How an engine's host is recognised.
#[derive(Debug, Clone, Copy)]
enum HostMatch {
    /// The name or any name under it (`bing.com`, `www.bing.com`).
    Under(&'static str),
    /// A brand on any country domain (`google.com`, `www.google.co.uk`, `google.fr`).
    Brand(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Engine {
    name: &'static str,
    host: HostMatch,
    /// Paths the search is on (`""` for any path).
    paths: &'static [&'static str],
    param: &'static str,
}

/// The engines, most used first. A host that matches an earlier row never reaches a later one.
const ENGINES: &[Engine] = &[
    Engine {
        name: "YouTube",
        host: HostMatch::Under("youtube.com"),
        paths: &["/results"],
        param: "search_query",
    },
    Engine {
        name: "Google",
        host: HostMatch::Brand("google"),
        paths: &["/search", "/complete/search", "/webhp"],
        param: "q",
    },
    Engine {
        name: "Bing",
        host: HostMatch::Under("bing.com"),
        paths: &["/search", "/images/search", "/videos/search", "/AS/Suggestions"],
        param: "q",
    },
    Engine {
        name: "DuckDuckGo",
        host: HostMatch::Under("duckduckgo.com"),
        paths: &[""],
        param: "q",
    },
    Engine {
        name: "Yahoo",
        host: HostMatch::Under("search.yahoo.com"),
        paths: &[""],
        param: "p",
    },
    Engine {
        name: "Wikipedia",
        host: HostMatch::Under("wikipedia.org"),
        paths: &["/w/index.php", "/wiki/Special:Search"],
        param: "search",
    },
    Engine {
        name: "Ecosia",
        host: HostMatch::Under("ecosia.org"),
        paths: &["/search", "/images", "/videos"],
        param: "q",
    },
    Engine {
        name: "Brave",
        host: HostMatch::Under("search.brave.com"),
        paths: &[""],
        param: "q",
    },
    Engine {
        name: "Startpage",
        host: HostMatch::Under("startpage.com"),
        paths: &[""],
        param: "query",
    },
    Engine {
        name: "Yandex",
        host: HostMatch::Brand("yandex"),
        paths: &["/search"],
        param: "text",
    },
    Engine {
        name: "Baidu",
        host: HostMatch::Under("baidu.com"),
        paths: &["/s"],
        param: "wd",
    },
    Engine {
        name: "Ask",
        host: HostMatch::Under("ask.com"),
        paths: &["/web"],
        param: "q",
    },
    Engine {
        name: "Kiddle",
        host: HostMatch::Under("kiddle.co"),
        paths: &["/s.php"],
        param: "q",
    },
    Engine {
        name: "Swisscows",
        host: HostMatch::Under("swisscows.com"),
        paths: &[""],
        param: "query",
    },
    Engine {
        name: "TikTok",
        host: HostMatch::Under("tiktok.com"),
        paths: &["/search"],
        param: "q",
    },
    Engine {
        name: "Reddit",
        host: HostMatch::Under("reddit.com"),
        paths: &["/search"],
        param: "q",
    },
    Engine {
        name: "X",
        host: HostMatch::Under("x.com"),
        paths: &["/search"],
        param: "q",
    },
    Engine {
        name: "Amazon",
        host: HostMatch::Brand("amazon"),
        paths: &["/s"],
        param: "k",
    },
];

/// The longest term kept: enough for any real search, not a way to store essays.
const MAX_TERM: usize = 500;

fn host_matches(host: &str, m: HostMatch) -> bool {
    match m {
        HostMatch::Under(base) => host == base || host.strip_suffix(base).is_some_and(|rest| rest.ends_with('.')),
        HostMatch::Brand(brand) => {
            // The brand's label followed by a country or generic ending of one or two labels.
            let labels: Vec<&str> = host.split('.').collect();
            labels
                .iter()
                .position(|l| *l == brand)
                .is_some_and(|i| (1..=2).contains(&(labels.len() - i - 1)))
        }
    }
}

/// The search term in a request for `host` and `path_and_query` (`/search?q=volcanoes`), if
/// the host is a search engine's and the term is not empty.
pub fn search_term(host: &str, path_and_query: &str) -> Option<SearchTerm> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let (path, query) = path_and_query.split_once('?')?;
    let engine = ENGINES.iter().find(|e| host_matches(&host, e.host))?;
    let on_path = engine
        .paths
        .iter()
        .any(|p| p.is_empty() || path.eq_ignore_ascii_case(p) || path.starts_with(&format!("{p}/")));
    if !on_path {
        return None;
    }
    let raw = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == engine.param)
        .map(|(_, v)| v)?;
    let term: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if term.is_empty() {
        return None;
    }
    let term = match term.char_indices().nth(MAX_TERM) {
        Some((cut, _)) => term[..cut].to_owned(),
        None => term,
    };
    Some(SearchTerm {
        engine: engine.name,
        term,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(url: &str) -> Option<(&'static str, String)> {
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
        search_term(host, &path).map(|t| (t.engine, t.term))
    }

    #[test]
    fn every_engine_in_the_table_gives_its_term_decoded() {
        let cases = [
            (
                "http://www.google.com/search?q=volcano+facts&hl=en",
                "Google",
                "volcano facts",
            ),
            (
                "http://www.google.co.uk/search?client=x&q=how%20to%20draw%20a%20cat",
                "Google",
                "how to draw a cat",
            ),
            ("http://google.fr/search?q=m%C3%A9t%C3%A9o", "Google", "météo"),
            (
                "http://www.bing.com/search?q=year+6+maths&form=QBLH",
                "Bing",
                "year 6 maths",
            ),
            ("http://www.bing.com/images/search?q=tigers", "Bing", "tigers"),
            (
                "http://duckduckgo.com/?q=space+station&ia=web",
                "DuckDuckGo",
                "space station",
            ),
            ("http://html.duckduckgo.com/html/?q=rivers", "DuckDuckGo", "rivers"),
            (
                "http://www.youtube.com/results?search_query=minecraft+tutorial",
                "YouTube",
                "minecraft tutorial",
            ),
            ("http://m.youtube.com/results?search_query=lofi", "YouTube", "lofi"),
            (
                "http://uk.search.yahoo.com/search?p=weather+leeds",
                "Yahoo",
                "weather leeds",
            ),
            (
                "http://en.wikipedia.org/w/index.php?search=Tudors&title=Special:Search",
                "Wikipedia",
                "Tudors",
            ),
            (
                "http://www.ecosia.org/search?method=index&q=recycling",
                "Ecosia",
                "recycling",
            ),
            ("http://search.brave.com/search?q=romans", "Brave", "romans"),
            ("http://www.startpage.com/do/search?query=egypt", "Startpage", "egypt"),
            ("http://yandex.ru/search/?text=%D0%BA%D0%BE%D1%82", "Yandex", "кот"),
            ("http://www.baidu.com/s?wd=%E7%86%8A%E7%8C%AB", "Baidu", "熊猫"),
            ("http://www.ask.com/web?q=volcano", "Ask", "volcano"),
            ("http://www.kiddle.co/s.php?q=sharks", "Kiddle", "sharks"),
            ("http://www.tiktok.com/search?q=dance", "TikTok", "dance"),
            ("http://www.reddit.com/search/?q=lego", "Reddit", "lego"),
            ("http://www.amazon.co.uk/s?k=pencil+case", "Amazon", "pencil case"),
        ];
        for (url, engine, expected) in cases {
            assert_eq!(term(url), Some((engine, expected.to_owned())), "{url}");
        }
    }

    #[test]
    fn pages_that_are_not_searches_give_no_term() {
        for url in [
            "http://www.google.com/maps?q=leeds",
            "http://www.google.com/search?hl=en",
            "http://www.google.com/search?q=+++",
            "http://www.bing.com/",
            "http://www.youtube.com/watch?v=abc",
            "http://en.wikipedia.org/wiki/Tudors?q=x",
            "http://notgoogle.com/search?q=x",
            "http://google.evil.example.com/search?q=x",
            "http://www.bbc.co.uk/search?q=news",
            "http://bing.com.evil.example/search?q=x",
        ] {
            assert_eq!(term(url), None, "{url}");
        }
    }

    #[test]
    fn spacing_is_tidied_and_long_terms_are_cut() {
        assert_eq!(
            term("http://www.google.com/search?q=%20%20two%0A%09words%20"),
            Some(("Google", "two words".to_owned()))
        );
        let long = "a".repeat(2000);
        let (_, t) = term(&format!("http://www.bing.com/search?q={long}")).expect("a term");
        assert_eq!(t.chars().count(), MAX_TERM);
        let (_, t) = term(&format!("http://www.bing.com/search?q={}", "%C3%A9".repeat(600))).expect("a term");
        assert_eq!(t.chars().count(), MAX_TERM, "cut on a character, not a byte");
    }
}
