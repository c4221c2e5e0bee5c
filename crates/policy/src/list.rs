//! Reading category lists: plain domain lists, hosts files, adblock domain rules and UT1
//! URL lists.
//!
//! A list is read line by line. Good entries are kept, bad ones are returned with their
//! file and line (so that one typo does not stop a million-line list from loading), and
//! lines that are valid but cannot be expressed as a domain or URL entry — adblock
//! exceptions, cosmetic rules, rules with options — are counted as skipped.

use std::fmt;
use std::io::BufRead;

use crate::domain::{BadHost, Domain};

/// The format of a list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// One domain a line (UT1 `domains`, Block List Project `alt-version`).
    Domains,
    /// A hosts file: `0.0.0.0 example.com`.
    Hosts,
    /// Adblock / AdGuard rules; only `||domain^` rules are used.
    Adblock,
    /// One URL a line, host and path prefix, scheme optional (UT1 `urls`, IWF-style lists).
    Urls,
}

impl ListFormat {
    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Domains => "domains",
            ListFormat::Hosts => "hosts",
            ListFormat::Adblock => "adblock",
            ListFormat::Urls => "urls",
        }
    }

    /// Guesses a file's format from its first meaningful lines.
    pub fn sniff(sample: &str) -> ListFormat {
        let lines = sample
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        for l in lines.take(20) {
            if l.starts_with('!') || l.starts_with("||") || l.starts_with("[Adblock") {
                return ListFormat::Adblock;
            }
            let first = l.split_whitespace().next().unwrap_or_default();
            if l.split_whitespace().count() >= 2 && (first.parse::<std::net::IpAddr>().is_ok()) {
                return ListFormat::Hosts;
            }
            if l.contains('/') {
                return ListFormat::Urls;
            }
        }
        ListFormat::Domains
    }
}

impl std::str::FromStr for ListFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "domains" => Ok(ListFormat::Domains),
            "hosts" => Ok(ListFormat::Hosts),
            "adblock" => Ok(ListFormat::Adblock),
            "urls" => Ok(ListFormat::Urls),
            "ut1" => Ok(ListFormat::Domains),
            other => Err(format!(
                "unknown list format {other:?} (use ut1, domains, hosts, adblock or urls)"
            )),
        }
    }
}

/// A page-level entry: a host and a path prefix (`/` for the whole host).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrlEntry {
    pub host: Domain,
    pub path: String,
}

impl UrlEntry {
    /// Reads `example.org/some/path`, with or without `http://` or `https://`.
    pub fn parse(text: &str) -> Result<UrlEntry, BadHost> {
        let t = text.trim();
        let t = t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("https://"))
            .unwrap_or(t);
        let (host, path) = match t.find('/') {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, "/"),
        };
        let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let path = path.split('#').next().unwrap_or("/");
        Ok(UrlEntry {
            host: Domain::parse(host)?,
            path: if path.is_empty() { "/".into() } else { path.to_owned() },
        })
    }
}

impl fmt::Display for UrlEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.host, self.path)
    }
}

/// A line that could not be read, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    pub origin: String,
    pub line: u64,
    /// The line as written (cut at 200 characters).
    pub text: String,
    pub reason: String,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} ({:?})", self.origin, self.line, self.reason, self.text)
    }
}

/// What reading a list gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedList {
    pub domains: Vec<Domain>,
    pub urls: Vec<UrlEntry>,
    /// Valid lines the engine cannot express (adblock exceptions, cosmetic rules…).
    pub skipped: u64,
    pub errors: Vec<ListError>,
}

impl ParsedList {
    pub fn entries(&self) -> usize {
        self.domains.len() + self.urls.len()
    }

    /// The entries as stored: one a line, domains then URLs (a URL has a `/`, a domain
    /// never does), sorted and without duplicates.
    pub fn to_normalised(&self) -> Vec<u8> {
        let mut domains: Vec<&str> = self.domains.iter().map(Domain::as_str).collect();
        domains.sort_unstable();
        domains.dedup();
        let mut urls: Vec<String> = self.urls.iter().map(UrlEntry::to_string).collect();
        urls.sort_unstable();
        urls.dedup();
        let mut out = Vec::with_capacity(
            domains.iter().map(|d| d.len() + 1).sum::<usize>() + urls.iter().map(|u| u.len() + 1).sum::<usize>(),
        );
        for line in domains.into_iter().chain(urls.iter().map(String::as_str)) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Reads entries written by [`ParsedList::to_normalised`].
    pub fn from_normalised(origin: &str, bytes: &[u8]) -> ParsedList {
        let mut out = ParsedList::default();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(line);
            let format = if line.contains(&b'/') {
                ListFormat::Urls
            } else {
                ListFormat::Domains
            };
            if let Err(reason) = parse_line(&text, format, &mut out) {
                out.errors.push(ListError {
                    origin: origin.into(),
                    line: i as u64 + 1,
                    text: text.into_owned(),
                    reason,
                });
            }
        }
        out
    }
}

/// Reads a whole list. `origin` (usually the file's path) names it in errors.
pub fn parse_list<R: BufRead>(origin: &str, format: ListFormat, mut input: R) -> ParsedList {
    let mut out = ParsedList::default();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                out.errors.push(ListError {
                    origin: origin.into(),
                    line: line_no + 1,
                    text: String::new(),
                    reason: format!("cannot read: {e}"),
                });
                break;
            }
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        parse_line(&text, format, &mut out).unwrap_or_else(|reason| {
            let shown: String = text.trim().chars().take(200).collect();
            out.errors.push(ListError {
                origin: origin.into(),
                line: line_no,
                text: shown,
                reason,
            });
        });
    }
    out
}

/// One line into `out`; `Err` is the reason the line is bad.
pub fn parse_line(raw: &str, format: ListFormat, out: &mut ParsedList) -> Result<(), String> {
    let line = raw.trim_start_matches('\u{feff}').trim();
    match format {
        ListFormat::Domains => {
            let entry = strip_comment(line, '#');
            if entry.is_empty() {
                return Ok(());
            }
            if entry.contains('/') {
                return Err("looks like a URL: page-level entries belong in a urls list".into());
            }
            let entry = entry.strip_prefix("*.").unwrap_or(entry);
            out.domains.push(Domain::parse(entry).map_err(|e| e.to_string())?);
        }
        ListFormat::Hosts => {
            let entry = strip_comment(line, '#');
            let mut words = entry.split_whitespace();
            let Some(address) = words.next() else { return Ok(()) };
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("a hosts line starts with an address, not {address:?}"));
            }
            let mut any = false;
            for name in words {
                any = true;
                if matches!(
                    name,
                    "localhost"
                        | "localhost.localdomain"
                        | "local"
                        | "broadcasthost"
                        | "ip6-localhost"
                        | "ip6-loopback"
                ) || name.parse::<std::net::IpAddr>().is_ok()
                {
                    out.skipped += 1;
                    continue;
                }
                out.domains
                    .push(Domain::parse(name).map_err(|e| format!("{name:?}: {e}"))?);
            }
            if !any {
                return Err("a hosts line needs a host name after the address".into());
            }
        }
        ListFormat::Adblock => {
            if line.is_empty() || line.starts_with('!') || line.starts_with('[') {
                return Ok(());
            }
            let Some(rule) = line.strip_prefix("||") else {
                out.skipped += 1;
                return Ok(());
            };
            // `||example.com^` and `||example.com^$important` block a domain and its
            // subdomains; paths, wildcards and other options say more than a domain entry can.
            let (body, options) = rule.split_once('$').unwrap_or((rule, ""));
            let simple_options = options.is_empty()
                || options
                    .split(',')
                    .all(|o| matches!(o, "important" | "all" | "document"));
            let host = body
                .strip_suffix('^')
                .or_else(|| body.strip_suffix("^|"))
                .unwrap_or(body);
            if !simple_options || host.contains(['/', '*', '^', '|']) {
                out.skipped += 1;
                return Ok(());
            }
            out.domains.push(Domain::parse(host).map_err(|e| e.to_string())?);
        }
        ListFormat::Urls => {
            let entry = strip_comment(line, '#');
            if entry.is_empty() {
                return Ok(());
            }
            if entry.contains(char::is_whitespace) {
                return Err("a URL has no spaces".into());
            }
            out.urls.push(UrlEntry::parse(entry).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

fn strip_comment(line: &str, mark: char) -> &str {
    match line.find(mark) {
        Some(0) => "",
        Some(i) if line[..i].ends_with(char::is_whitespace) => line[..i].trim_end(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: ListFormat, text: &str) -> ParsedList {
        parse_list("test.txt", format, text.as_bytes())
    }

    fn names(p: &ParsedList) -> Vec<&str> {
        p.domains.iter().map(Domain::as_str).collect()
    }

    #[test]
    fn domain_lists_are_normalised_and_bad_lines_named() {
        let p = parse(
            ListFormat::Domains,
            "# a comment\nExample.COM\n  spaced.org  \ntrailing.net.\n*.wild.example\nbücher.example # note\n\nbad..name\nexample.com/page\n",
        );
        assert_eq!(
            names(&p),
            [
                "example.com",
                "spaced.org",
                "trailing.net",
                "wild.example",
                "xn--bcher-kva.example"
            ]
        );
        assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [8, 9]);
        assert!(
            p.errors[0].to_string().starts_with("test.txt:8: empty label"),
            "{}",
            p.errors[0]
        );
        assert!(p.errors[1].reason.contains("urls list"));
    }

    #[test]
    fn hosts_files_keep_names_and_skip_local_ones() {
        let p = parse(
            ListFormat::Hosts,
            "# header\n127.0.0.1 localhost\n::1 ip6-localhost\n0.0.0.0 ads.example.com # tracker\n0.0.0.0 a.example b.example\nnot-an-ip example.com\n0.0.0.0\n",
        );
        assert_eq!(names(&p), ["ads.example.com", "a.example", "b.example"]);
        assert_eq!(p.skipped, 2);
        assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [6, 7]);
    }

    #[test]
    fn adblock_domain_rules_are_used_and_the_rest_counted() {
        let p = parse(
            ListFormat::Adblock,
            "[Adblock Plus 2.0]\n! Title: test\n||drugs.example^\n||important.example^$important\n@@||allowed.example^\n##.banner\n||ads.example/path^\n||third.example^$third-party\n/banner/*\n||*.wild^\n",
        );
        assert_eq!(names(&p), ["drugs.example", "important.example"]);
        assert_eq!(p.skipped, 6);
        assert!(p.errors.is_empty());
    }

    #[test]
    fn url_lists_keep_host_and_path_prefix() {
        let p = parse(
            ListFormat::Urls,
            "1512h.itch.io/life-in-teyvat\nhttp://Example.org/a/b?x=1#frag\nhttps://user@host.example:8443/p\nbare.example\nbad url.example/x\n",
        );
        let got: Vec<String> = p.urls.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            got,
            [
                "1512h.itch.io/life-in-teyvat",
                "example.org/a/b?x=1",
                "host.example/p",
                "bare.example/"
            ]
        );
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 5);
    }

    #[test]
    fn the_stored_form_round_trips() {
        let p = parse(ListFormat::Domains, "b.example\na.example\nb.example\n");
        let mut p2 = parse(ListFormat::Urls, "c.example/x\n");
        p2.domains = p.domains.clone();
        let stored = p2.to_normalised();
        assert_eq!(stored, b"a.example\nb.example\nc.example/x\n");
        let back = ParsedList::from_normalised("db", &stored);
        assert_eq!(back.domains.len(), 2);
        assert_eq!(back.urls.len(), 1);
        assert!(back.errors.is_empty());
    }

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(ListFormat::sniff("# c\n0.0.0.0 a.example\n"), ListFormat::Hosts);
        assert_eq!(ListFormat::sniff("! Title\n||a.example^\n"), ListFormat::Adblock);
        assert_eq!(ListFormat::sniff("a.example/path\n"), ListFormat::Urls);
        assert_eq!(ListFormat::sniff("a.example\nb.example\n"), ListFormat::Domains);
    }

    #[test]
    fn the_shared_hosts_and_adblock_samples_give_the_same_domains() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/lists");
        let hosts = std::fs::read_to_string(format!("{dir}/drugs.hosts")).expect("fixture");
        let adblock = std::fs::read_to_string(format!("{dir}/drugs.adguard.txt")).expect("fixture");
        let a = parse(ListFormat::Hosts, &hosts);
        let b = parse(ListFormat::Adblock, &adblock);
        assert!(
            a.errors.is_empty() && b.errors.is_empty(),
            "{:?} {:?}",
            a.errors,
            b.errors
        );
        assert_eq!(a.domains, b.domains);
        assert!(a.domains.len() >= 50);
    }
}
