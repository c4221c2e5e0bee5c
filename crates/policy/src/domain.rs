//! Host names: normalising list entries and request hosts, and the suffix fingerprints the
//! indexes are keyed by.
//!
//! A list entry is normalised once, when it is loaded: surrounding space and comments
//! removed, lower case, no trailing dot, Unicode names turned into their punycode (`xn--`)
//! form. A request host is normalised as it is hashed, without allocating: DNS clients send
//! names in ASCII already, and case is folded byte by byte.

use std::fmt;

/// A normalised host name: ASCII, lower case, no trailing dot, 1–253 characters of labels
/// of 1–63 letters, digits, hyphens or underscores. IPv4 addresses are hosts too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

/// Why a text is not a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHost {
    #[error("empty host name")]
    Empty,
    #[error("host name longer than 253 characters")]
    TooLong,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label longer than 63 characters")]
    LongLabel,
    #[error("character {0:?} is not allowed in a host name")]
    BadCharacter(char),
    #[error("label starts or ends with a hyphen")]
    Hyphen,
    #[error("international name cannot be converted to punycode")]
    Idna,
}

impl Domain {
    /// Normalises a host name as a list or a person wrote it.
    pub fn parse(text: &str) -> Result<Domain, BadHost> {
        let t = text.trim().trim_end_matches('.');
        if t.is_empty() {
            return Err(BadHost::Empty);
        }
        let ascii = if t.is_ascii() {
            t.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(t).map_err(|_| BadHost::Idna)?
        };
        check(&ascii)?;
        Ok(Domain(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` is `other` or one of its subdomains.
    pub fn is_within(&self, other: &Domain) -> bool {
        self.0 == other.0 || (self.0.ends_with(&other.0) && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }

    /// The number of labels (`www.bbc.co.uk` has 4).
    pub fn labels(&self) -> usize {
        self.0.bytes().filter(|&b| b == b'.').count() + 1
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check(host: &str) -> Result<(), BadHost> {
    if host.len() > 253 {
        return Err(BadHost::TooLong);
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(BadHost::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(BadHost::LongLabel);
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(BadHost::BadCharacter(c));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(BadHost::Hyphen);
        }
    }
    Ok(())
}

/// Splits what a person typed (`https://www.Example.com/a?b`, `example.com`) into the host,
/// normalised where it can be, and the path with its query, if any.
pub fn split_target(target: &str) -> (String, Option<String>) {
    let t = target.trim();
    let t = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
        .unwrap_or(t);
    let (host, path) = match t.find(['/', '?']) {
        Some(i) => (&t[..i], Some(&t[i..])),
        None => (t, None),
    };
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = Domain::parse(host).map(|d| d.0).unwrap_or_else(|_| host.to_owned());
    (
        host,
        path.map(|p| {
            if p.starts_with('?') {
                format!("/{p}")
            } else {
                p.to_owned()
            }
        }),
    )
}

/// The most labels a lookup looks at. Entries deeper than this can only match names of at
/// most this depth; real lists hold none.
pub const MAX_LABELS: usize = 32;

/// The fingerprints of every suffix of `host`, shortest first: for `www.bbc.co.uk`, those of
/// `uk`, `co.uk`, `bbc.co.uk` and `www.bbc.co.uk`. Case is folded and a trailing dot ignored.
/// Returns how many were written.
///
/// One pass from the right end: each suffix's fingerprint is the running hash at a dot, so
/// a name of n labels costs one hash, not n.
#[inline]
pub fn suffix_fingerprints(host: &[u8], seed: u64, out: &mut [u64; MAX_LABELS]) -> usize {
    let host = match host.last() {
        Some(b'.') => &host[..host.len() - 1],
        _ => host,
    };
    if host.is_empty() {
        return 0;
    }
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    let mut n = 0;
    for &b in host.iter().rev() {
        if b == b'.' {
            if n == MAX_LABELS {
                return n;
            }
            out[n] = finish(h);
            n += 1;
        }
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    if n < MAX_LABELS {
        out[n] = finish(h);
        n += 1;
    }
    n
}

/// The fingerprint of a whole normalised host (the last of its suffix fingerprints).
pub fn fingerprint(host: &str, seed: u64) -> u64 {
    let mut out = [0u64; MAX_LABELS];
    let n = suffix_fingerprints(host.as_bytes(), seed, &mut out);
    if n == 0 { 0 } else { out[n - 1] }
}

/// MurmurHash3's 64-bit finaliser: spreads FNV's weak low bits over the whole word, which
/// the index's bucket and filter bits are taken from.
#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised() {
        for (raw, want) in [
            ("Example.COM", "example.com"),
            ("  example.com.  ", "example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("ÉCOLE.fr", "xn--cole-9oa.fr"),
            ("_dmarc.example.com", "_dmarc.example.com"),
            ("10.0.0.1", "10.0.0.1"),
        ] {
            assert_eq!(Domain::parse(raw).map(|d| d.0), Ok(want.to_owned()), "{raw}");
        }
    }

    #[test]
    fn bad_hosts_are_refused_with_a_reason() {
        for (raw, why) in [
            ("", BadHost::Empty),
            ("a..b", BadHost::EmptyLabel),
            ("-a.com", BadHost::Hyphen),
            ("exa mple.com", BadHost::BadCharacter(' ')),
            ("example.com/path", BadHost::BadCharacter('/')),
        ] {
            assert_eq!(Domain::parse(raw), Err(why), "{raw}");
        }
        assert_eq!(Domain::parse(&"a".repeat(64)), Err(BadHost::LongLabel));
        assert_eq!(
            Domain::parse(&format!("{}.com", ["abcdefghij"; 25].join("."))),
            Err(BadHost::TooLong)
        );
    }

    #[test]
    fn targets_split_into_host_and_path() {
        assert_eq!(
            split_target("https://www.Example.com/a/b?c=d"),
            ("www.example.com".into(), Some("/a/b?c=d".into()))
        );
        assert_eq!(split_target("example.com"), ("example.com".into(), None));
        assert_eq!(
            split_target("http://user@example.com:8080?q=1"),
            ("example.com".into(), Some("/?q=1".into()))
        );
    }

    #[test]
    fn within_respects_label_boundaries() {
        let d = |s| Domain::parse(s).expect("valid");
        assert!(d("www.example.com").is_within(&d("example.com")));
        assert!(d("example.com").is_within(&d("example.com")));
        assert!(!d("badexample.com").is_within(&d("example.com")));
    }

    #[test]
    fn suffix_fingerprints_match_whole_host_fingerprints() {
        let mut out = [0u64; MAX_LABELS];
        let n = suffix_fingerprints(b"WWW.BBC.co.uk.", 7, &mut out);
        assert_eq!(n, 4);
        for (i, s) in ["uk", "co.uk", "bbc.co.uk", "www.bbc.co.uk"].iter().enumerate() {
            assert_eq!(out[i], fingerprint(s, 7), "{s}");
        }
        assert_ne!(fingerprint("a.bc", 7), fingerprint("ab.c", 7));
        assert_ne!(fingerprint("example.com", 7), fingerprint("example.com", 8), "seeded");
        assert_eq!(suffix_fingerprints(b"", 7, &mut out), 0);
        assert_eq!(suffix_fingerprints(b".", 7, &mut out), 0);
    }
}

/// A URL path (with its query) as the web server will read it, so that policy sees the same
/// page: `%`-escapes of unreserved characters decoded (`/%70age` is `/page`), `.` and `..`
/// segments resolved, and runs of `/` made one. Without it, `/x/../bad/page` or
/// `/bad/%70age` would slip past an entry for `/bad/page`, and an allowed `/quiz` would
/// cover `/quiz/../anything`. The query is left as it is.
pub fn normalise_path(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    // Decode only unreserved characters: decoding `/` or `?` would change the meaning.
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
            && (v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~'))
        {
            decoded.push(char::from(v));
            i += 3;
            continue;
        }
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        decoded.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path_and_query.len());
    out.push('/');
    out.push_str(&segments.join("/"));
    if decoded.len() > 1
        && (decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/.."))
        && !out.ends_with('/')
    {
        out.push('/');
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod path_tests {
    use super::normalise_path;

    #[test]
    fn paths_read_as_the_server_reads_them() {
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("/bad/page", "/bad/page"),
            ("/bad/%70age", "/bad/page"),
            ("/bad/%2Fpage", "/bad/%2Fpage"),
            ("/x/../bad/page", "/bad/page"),
            ("/quiz/../anything", "/anything"),
            ("/../../etc", "/etc"),
            ("//bad///page", "/bad/page"),
            ("/./bad/./page/", "/bad/page/"),
            ("/a/b/..", "/a/"),
            ("/search?q=a/../b", "/search?q=a/../b"),
            ("/caf%C3%A9/é", "/caf%C3%A9/é"),
            ("/%zz/%4", "/%zz/%4"),
        ] {
            assert_eq!(normalise_path(raw), want, "{raw}");
        }
    }
}
