//! Search engines and the hosts that force their safe search.
//!
//! Answering a search engine's name with a CNAME to the provider's own enforced host is the
//! method the providers document for schools (DFE-FM-3.12, UKSIC-F-SF-15): the browser
//! cannot switch it off, and no traffic is decrypted.

use crate::rules::YoutubeMode;

/// A search engine whose safe search schoolgate can enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Google,
    YouTube,
    Bing,
    DuckDuckGo,
}

impl Engine {
    /// The host that serves this engine with safe search locked on.
    pub fn safe_host(self, youtube: YoutubeMode) -> &'static str {
        match self {
            Engine::Google => "forcesafesearch.google.com",
            Engine::YouTube => match youtube {
                YoutubeMode::Strict => "restrict.youtube.com",
                YoutubeMode::Moderate => "restrictmoderate.youtube.com",
            },
            Engine::Bing => "strict.bing.com",
            Engine::DuckDuckGo => "safe.duckduckgo.com",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Google => "Google",
            Engine::YouTube => "YouTube",
            Engine::Bing => "Bing",
            Engine::DuckDuckGo => "DuckDuckGo",
        }
    }
}

/// Google's country domains (as `google.` + this).
const GOOGLE_SUFFIXES: &[&str] = &[
    "com", "ac", "ad", "ae", "al", "am", "as", "at", "az", "ba", "be", "bf", "bg", "bi", "bj", "bs", "bt", "by", "ca",
    "cat", "cd", "cf", "cg", "ch", "ci", "cl", "cm", "cn", "cv", "cz", "de", "dj", "dk", "dm", "dz", "ee", "es", "fi",
    "fm", "fr", "ga", "ge", "gg", "gl", "gm", "gr", "gy", "hn", "hr", "ht", "hu", "ie", "im", "iq", "is", "it", "je",
    "jo", "kg", "ki", "kz", "la", "li", "lk", "lt", "lu", "lv", "md", "me", "mg", "mk", "ml", "mn", "mu", "mv", "mw",
    "ne", "nl", "no", "nr", "nu", "pl", "pn", "ps", "pt", "ro", "rs", "ru", "rw", "sc", "se", "sh", "si", "sk", "sm",
    "sn", "so", "sr", "st", "td", "tg", "tl", "tm", "tn", "to", "tt", "vg", "vu", "ws", "co.ao", "co.bw", "co.ck",
    "co.cr", "co.id", "co.il", "co.in", "co.jp", "co.ke", "co.kr", "co.ls", "co.ma", "co.mz", "co.nz", "co.th",
    "co.tz", "co.ug", "co.uk", "co.uz", "co.ve", "co.vi", "co.za", "co.zm", "co.zw", "com.af", "com.ag", "com.ar",
    "com.au", "com.bd", "com.bh", "com.bn", "com.bo", "com.br", "com.bz", "com.co", "com.cu", "com.cy", "com.do",
    "com.ec", "com.eg", "com.et", "com.fj", "com.gh", "com.gi", "com.gt", "com.hk", "com.jm", "com.kh", "com.kw",
    "com.lb", "com.ly", "com.mm", "com.mt", "com.mx", "com.my", "com.na", "com.ng", "com.ni", "com.np", "com.om",
    "com.pa", "com.pe", "com.pg", "com.ph", "com.pk", "com.pr", "com.py", "com.qa", "com.sa", "com.sb", "com.sg",
    "com.sl", "com.sv", "com.tj", "com.tr", "com.tw", "com.ua", "com.uy", "com.vc", "com.vn",
];

const OTHER_HOSTS: &[(&str, Engine)] = &[
    ("www.youtube.com", Engine::YouTube),
    ("youtube.com", Engine::YouTube),
    ("m.youtube.com", Engine::YouTube),
    ("youtubei.googleapis.com", Engine::YouTube),
    ("youtube.googleapis.com", Engine::YouTube),
    ("www.youtube-nocookie.com", Engine::YouTube),
    ("www.bing.com", Engine::Bing),
    ("bing.com", Engine::Bing),
    ("duckduckgo.com", Engine::DuckDuckGo),
    ("www.duckduckgo.com", Engine::DuckDuckGo),
    ("start.duckduckgo.com", Engine::DuckDuckGo),
];

/// Every host that is answered with a safe-search host, and its engine.
pub fn search_hosts() -> Vec<(String, Engine)> {
    let mut out: Vec<(String, Engine)> = GOOGLE_SUFFIXES
        .iter()
        .flat_map(|s| {
            [
                (format!("google.{s}"), Engine::Google),
                (format!("www.google.{s}"), Engine::Google),
            ]
        })
        .collect();
    out.extend(OTHER_HOSTS.iter().map(|(h, e)| (h.to_string(), *e)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_country_domains_and_the_other_engines_are_covered() {
        let hosts = search_hosts();
        let find = |h: &str| hosts.iter().find(|(x, _)| x == h).map(|(_, e)| *e);
        assert_eq!(find("www.google.co.uk"), Some(Engine::Google));
        assert_eq!(find("google.de"), Some(Engine::Google));
        assert_eq!(find("www.google.com.au"), Some(Engine::Google));
        assert_eq!(find("m.youtube.com"), Some(Engine::YouTube));
        assert_eq!(find("www.bing.com"), Some(Engine::Bing));
        assert_eq!(find("duckduckgo.com"), Some(Engine::DuckDuckGo));
        assert_eq!(find("maps.google.com"), None, "only the search hosts");
        assert!(hosts.len() > 350);
        assert_eq!(
            Engine::YouTube.safe_host(YoutubeMode::Moderate),
            "restrictmoderate.youtube.com"
        );
    }
}
