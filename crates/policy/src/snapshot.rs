//! Compiling lists and policies into a snapshot, and deciding from it.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::category::{Category, CategorySet};
use crate::decision::{Decision, GroupId, ListId, Rule, Verdict};
use crate::domain::{Domain, MAX_LABELS, fingerprint, suffix_fingerprints};
use crate::index::FingerprintIndex;
use crate::list::{ParsedList, UrlEntry};
use crate::rules::{CheckedPolicy, CompiledTimeRule, DefaultVerdict, ListEntry, LocalTime, TimeEffect};
use crate::safesearch::{Engine as SearchEngine, search_hosts};

/// What is known about a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// `ut1/games`
    pub name: String,
    /// `ut1`
    pub source: String,
    pub category: Category,
    /// An illegal-content list (IWF, CTIRU): blocks for everyone, cannot be overridden.
    pub illegal: bool,
    /// Entries loaded, set by the builder.
    pub entries: usize,
}

impl ListInfo {
    pub fn new(name: &str, source: &str, category: Category, illegal: bool) -> ListInfo {
        ListInfo {
            name: name.into(),
            source: source.into(),
            category,
            illegal,
            entries: 0,
        }
    }
}

/// One question: may this group reach this host (and page), at this time?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The host, as asked (case and a trailing dot do not matter).
    pub host: &'a str,
    /// The path and query, when the whole URL is known (the proxy); `None` for DNS.
    pub path: Option<&'a str>,
    pub group: GroupId,
    /// The school's local time, for time rules.
    pub at: LocalTime,
}

/// Counts, for the console and the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotStats {
    pub lists: usize,
    pub domain_entries: usize,
    pub url_entries: usize,
    pub illegal_entries: usize,
    /// Bytes on the heap held by the indexes and tables.
    pub heap_bytes: usize,
}

/// A listed domain's categories, and which list gave each.
#[derive(Debug, Clone, Copy)]
struct Payload {
    categories: CategorySet,
    start: u32,
    len: u32,
}

/// Page-level entries of one host, longest path first.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: u32,
    len: u32,
}

/// URL entries grouped by host.
#[derive(Debug, Clone)]
struct UrlTable {
    hosts: FingerprintIndex,
    ranges: Vec<Range>,
    paths: Vec<Box<str>>,
    values: Vec<u32>,
}

impl UrlTable {
    fn build(seed: u64, mut entries: Vec<(UrlEntry, u32)>, merge: &mut dyn FnMut(&[u32]) -> u32) -> UrlTable {
        // Longest path first within a host, so that the first prefix found is the most specific.
        entries.sort_by(|a, b| {
            a.0.host
                .cmp(&b.0.host)
                .then(b.0.path.len().cmp(&a.0.path.len()))
                .then(a.0.path.cmp(&b.0.path))
        });
        let mut ranges = Vec::new();
        let mut paths: Vec<Box<str>> = Vec::new();
        let mut values = Vec::new();
        let mut host_keys = Vec::new();
        let mut i = 0;
        while i < entries.len() {
            let host = entries[i].0.host.clone();
            let start = paths.len() as u32;
            while i < entries.len() && entries[i].0.host == host {
                let path = entries[i].0.path.clone();
                let mut same = vec![entries[i].1];
                i += 1;
                while i < entries.len() && entries[i].0.host == host && entries[i].0.path == path {
                    same.push(entries[i].1);
                    i += 1;
                }
                paths.push(path.into_boxed_str());
                values.push(merge(&same));
            }
            host_keys.push((fingerprint(host.as_str(), seed), ranges.len() as u32));
            ranges.push(Range {
                start,
                len: paths.len() as u32 - start,
            });
        }
        UrlTable {
            hosts: FingerprintIndex::build(host_keys, |a, _| a),
            ranges,
            paths,
            values,
        }
    }

    /// The value of the longest path prefix of `path` listed for the host.
    #[inline]
    fn find(&self, host_fp: u64, path: &str) -> Option<u32> {
        let r = self.ranges[self.hosts.get(host_fp)? as usize];
        let (s, e) = (r.start as usize, (r.start + r.len) as usize);
        self.paths[s..e]
            .iter()
            .position(|p| path_matches(path, p))
            .map(|i| self.values[s + i])
    }

    fn has_host(&self, host_fp: u64) -> Option<u32> {
        let r = self.ranges[self.hosts.get(host_fp)? as usize];
        Some(self.values[r.start as usize])
    }

    fn len(&self) -> usize {
        self.paths.len()
    }

    fn heap_bytes(&self) -> usize {
        self.hosts.heap_bytes()
            + self.ranges.len() * std::mem::size_of::<Range>()
            + self.paths.iter().map(|p| p.len() + 16).sum::<usize>()
            + self.values.len() * 4
    }
}

/// A path prefix matches at a segment boundary or wherever the entry itself ends in `/`,
/// `?` or `=`: `/games` covers `/games` and `/games/x`, not `/gamesmaster`.
#[inline]
fn path_matches(path: &str, prefix: &str) -> bool {
    if !path.starts_with(prefix) {
        return false;
    }
    prefix.len() == path.len()
        || prefix.ends_with(['/', '?', '=', '&'])
        || matches!(path.as_bytes()[prefix.len()], b'/' | b'?' | b'#' | b'.')
}

/// A group's allow or deny list, compiled.
#[derive(Debug, Clone)]
struct EntrySet {
    domains: FingerprintIndex,
    names: Vec<Domain>,
    urls: UrlTable,
    url_texts: Vec<String>,
}

impl EntrySet {
    fn build(seed: u64, entries: &[ListEntry]) -> EntrySet {
        let mut names = Vec::new();
        let mut urls = Vec::new();
        let mut url_texts = Vec::new();
        for e in entries {
            match e {
                ListEntry::Domain(d) => names.push(d.clone()),
                ListEntry::Url(u) => {
                    urls.push((u.clone(), url_texts.len() as u32));
                    url_texts.push(u.to_string());
                }
            }
        }
        let keys = names
            .iter()
            .enumerate()
            .map(|(i, d)| (fingerprint(d.as_str(), seed), i as u32))
            .collect();
        EntrySet {
            domains: FingerprintIndex::build(keys, |a, _| a),
            names,
            urls: UrlTable::build(seed, urls, &mut |same| same[0]),
            url_texts,
        }
    }

    /// The matching entry, most specific first: a URL prefix, then the longest domain.
    /// Domain hits are checked against the entry's text, so that a crafted name whose
    /// fingerprint collides with an allow-list entry is not let through.
    #[inline]
    fn find(&self, host: &[u8], fps: &[u64], path: Option<&str>) -> Option<u32> {
        let n = fps.len();
        if let Some(p) = path
            && let Some(i) = self.urls.find(fps[n - 1], p)
        {
            return Some(self.names.len() as u32 + i);
        }
        if self.domains.is_empty() {
            return None;
        }
        for i in (0..n).rev() {
            if let Some(e) = self.domains.get(fps[i]) {
                let name = self.names[e as usize].as_str();
                if host_has_suffix(host, name) {
                    return Some(e);
                }
            }
        }
        None
    }

    fn describe(&self, entry: u32) -> String {
        let i = entry as usize;
        match self.names.get(i) {
            Some(d) => d.to_string(),
            None => self.url_texts.get(i - self.names.len()).cloned().unwrap_or_default(),
        }
    }
}

fn host_has_suffix(host: &[u8], suffix: &str) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    let s = suffix.as_bytes();
    host.len() >= s.len()
        && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
        && (host.len() == s.len() || host[host.len() - s.len() - 1] == b'.')
}

#[derive(Debug, Clone)]
struct CompiledGroup {
    name: String,
    policy: CheckedPolicy,
    allow: EntrySet,
    deny: EntrySet,
}

impl CompiledGroup {
    /// What the group blocks at `at`, and the time rule responsible for each addition.
    #[inline]
    fn blocked_at(&self, at: LocalTime) -> (CategorySet, CategorySet, Option<u8>) {
        let mut blocked = self.policy.block;
        let mut by_time = CategorySet::EMPTY;
        let mut first_rule = None;
        for (i, r) in self.policy.time_rules.iter().enumerate() {
            if r.applies(at) {
                match r.effect {
                    TimeEffect::Block => {
                        by_time = by_time.union(r.categories);
                        first_rule.get_or_insert(i as u8);
                    }
                    TimeEffect::Allow => blocked = blocked.without(r.categories),
                }
            }
        }
        (blocked.union(by_time), by_time, first_rule)
    }
}

/// Collects lists and policies, then compiles them into a [`Snapshot`].
#[derive(Debug)]
pub struct SnapshotBuilder {
    seed: u64,
    lists: Vec<ListInfo>,
    /// (fingerprint, category, list)
    domains: Vec<(u64, Category, u16)>,
    urls: Vec<(UrlEntry, Category, u16)>,
    illegal_domains: Vec<(u64, u32)>,
    illegal_urls: Vec<(UrlEntry, u32)>,
    illegal_entries: Vec<ListEntry>,
    groups: Vec<(String, CheckedPolicy)>,
    /// Sites unblocked for one person (an answered unblock request), by username.
    people: Vec<(String, Vec<ListEntry>)>,
    fail_closed: bool,
    /// The fewest labels of any domain entry: shorter suffixes need no probe.
    min_labels: Option<usize>,
}

impl SnapshotBuilder {
    /// `seed` keys the fingerprints; give each process its own random one, so that nobody
    /// outside can craft names that collide with listed ones.
    pub fn new(seed: u64) -> SnapshotBuilder {
        SnapshotBuilder {
            seed,
            lists: Vec::new(),
            domains: Vec::new(),
            urls: Vec::new(),
            illegal_domains: Vec::new(),
            illegal_urls: Vec::new(),
            illegal_entries: Vec::new(),
            groups: Vec::new(),
            people: Vec::new(),
            fail_closed: false,
            min_labels: None,
        }
    }

    /// Adds a list's entries. Returns its id within the snapshot.
    pub fn add_list(&mut self, mut info: ListInfo, parsed: &ParsedList) -> ListId {
        let id = self.lists.len() as u16;
        info.entries = parsed.entries();
        if info.illegal {
            self.illegal_domains.extend(
                parsed
                    .domains
                    .iter()
                    .map(|d| (fingerprint(d.as_str(), self.seed), u32::from(id))),
            );
            self.illegal_urls
                .extend(parsed.urls.iter().map(|u| (u.clone(), u32::from(id))));
            self.illegal_entries
                .extend(parsed.domains.iter().cloned().map(ListEntry::Domain));
            self.illegal_entries
                .extend(parsed.urls.iter().cloned().map(ListEntry::Url));
        } else {
            let cat = info.category;
            if let Some(fewest) = parsed.domains.iter().map(Domain::labels).min() {
                self.min_labels = Some(self.min_labels.map_or(fewest, |m| m.min(fewest)));
            }
            self.domains.extend(
                parsed
                    .domains
                    .iter()
                    .map(|d| (fingerprint(d.as_str(), self.seed), cat, id)),
            );
            self.urls.extend(parsed.urls.iter().map(|u| (u.clone(), cat, id)));
        }
        self.lists.push(info);
        ListId(id)
    }

    /// Adds a group's policy. `pupil` marks the groups that fail closed: in a snapshot built
    /// with [`SnapshotBuilder::fail_closed`], they reach only their allow list.
    pub fn add_group(&mut self, name: &str, policy: &CheckedPolicy, pupil: bool) -> GroupId {
        let mut p = policy.clone();
        if self.fail_closed && pupil {
            p.default = DefaultVerdict::Deny;
            p.allow_categories = CategorySet::EMPTY;
        }
        self.groups.push((name.to_owned(), p));
        GroupId(self.groups.len() as u16 - 1)
    }

    /// Unblocks `entries` for one person, whatever their group blocks (never illegal
    /// content): an unblock request answered "for this person".
    pub fn add_person_allow(&mut self, username: &str, entries: Vec<ListEntry>) {
        self.people.push((username.to_lowercase(), entries));
    }

    /// Marks this as the snapshot used when no lists could be loaded at all: pupil groups
    /// get only their allow lists (DESIGN.md: filtering fails closed for pupils). Call before
    /// adding groups.
    pub fn fail_closed(mut self) -> SnapshotBuilder {
        self.fail_closed = true;
        self
    }

    pub fn build(self) -> Snapshot {
        let seed = self.seed;
        let mut payloads: Vec<Payload> = Vec::new();
        let mut pairs: Vec<(Category, u16)> = Vec::new();
        let mut known: HashMap<Vec<(Category, u16)>, u32> = HashMap::new();
        let mut intern = |combo: Vec<(Category, u16)>| -> u32 {
            if let Some(&id) = known.get(&combo) {
                return id;
            }
            let id = payloads.len() as u32;
            let categories = combo.iter().map(|c| c.0).collect();
            payloads.push(Payload {
                categories,
                start: pairs.len() as u32,
                len: combo.len() as u32,
            });
            pairs.extend(combo.iter().copied());
            known.insert(combo, id);
            id
        };

        let mut domains = self.domains;
        domains.sort_unstable_by_key(|d| (d.0, d.1, d.2));
        let mut keys: Vec<(u64, u32)> = Vec::with_capacity(domains.len());
        let mut i = 0;
        while i < domains.len() {
            let fp = domains[i].0;
            let mut combo = Vec::with_capacity(1);
            while i < domains.len() && domains[i].0 == fp {
                if !combo.iter().any(|c: &(Category, u16)| c.0 == domains[i].1) {
                    combo.push((domains[i].1, domains[i].2));
                }
                i += 1;
            }
            keys.push((fp, intern(combo)));
        }
        let domain_count = domains.len();
        drop(domains);
        let min_labels = self.min_labels.unwrap_or(1);
        let domain_index = FingerprintIndex::build(keys, |a, _| a);

        let url_entries: Vec<(UrlEntry, u32)> = self
            .urls
            .into_iter()
            .map(|(u, c, l)| (u, (u32::from(c as u8) << 16) | u32::from(l)))
            .collect();
        let urls = UrlTable::build(seed, url_entries, &mut |same| {
            let mut combo: Vec<(Category, u16)> = Vec::new();
            for v in same {
                let cat = Category::ALL[(v >> 16) as usize];
                if !combo.iter().any(|c| c.0 == cat) {
                    combo.push((cat, (v & 0xffff) as u16));
                }
            }
            intern(combo)
        });

        let illegal_count = self.illegal_domains.len() + self.illegal_urls.len();
        let illegal_domains = FingerprintIndex::build(self.illegal_domains, |a, _| a);
        let illegal_urls = UrlTable::build(seed, self.illegal_urls, &mut |same| same[0]);

        let groups = self
            .groups
            .into_iter()
            .map(|(name, policy)| CompiledGroup {
                allow: EntrySet::build(seed, &policy.allow),
                deny: EntrySet::build(seed, &policy.deny),
                name,
                policy,
            })
            .collect();

        let engines = search_hosts();
        let search_engines: Vec<SearchEngine> = engines.iter().map(|e| e.1).collect();
        let search = FingerprintIndex::build(
            engines
                .iter()
                .enumerate()
                .map(|(i, (h, _))| (fingerprint(h, seed), i as u32))
                .collect(),
            |a, _| a,
        );
        let search_names = engines.into_iter().map(|e| e.0).collect();
        let mut by_person: HashMap<String, Vec<ListEntry>> = HashMap::new();
        for (who, entries) in self.people {
            by_person.entry(who).or_default().extend(entries);
        }
        let people = by_person
            .into_iter()
            .map(|(who, entries)| (who, EntrySet::build(seed, &entries)))
            .collect();

        let mut s = Snapshot {
            seed,
            min_labels,
            illegal_entries: self.illegal_entries,
            lists: self.lists,
            domain_index,
            payloads,
            pairs,
            urls,
            illegal_domains,
            illegal_urls,
            groups,
            search,
            search_engines,
            search_names,
            people,
            stats: SnapshotStats::default(),
        };
        s.stats = SnapshotStats {
            lists: s.lists.len(),
            domain_entries: domain_count,
            url_entries: s.urls.len(),
            illegal_entries: illegal_count,
            heap_bytes: s.domain_index.heap_bytes()
                + s.payloads.len() * std::mem::size_of::<Payload>()
                + s.pairs.len() * 4
                + s.urls.heap_bytes()
                + s.illegal_domains.heap_bytes()
                + s.illegal_urls.heap_bytes(),
        };
        s
    }
}

/// Lists and policies compiled for lookups. Immutable; replaced whole on reload.
#[derive(Debug)]
pub struct Snapshot {
    seed: u64,
    min_labels: usize,
    /// Kept to refuse allow entries that would cover illegal content (UKSIC-F-IL-03).
    illegal_entries: Vec<ListEntry>,
    lists: Vec<ListInfo>,
    domain_index: FingerprintIndex,
    payloads: Vec<Payload>,
    pairs: Vec<(Category, u16)>,
    urls: UrlTable,
    illegal_domains: FingerprintIndex,
    illegal_urls: UrlTable,
    groups: Vec<CompiledGroup>,
    search: FingerprintIndex,
    search_engines: Vec<SearchEngine>,
    search_names: Vec<String>,
    people: HashMap<String, EntrySet>,
    stats: SnapshotStats,
}

impl Snapshot {
    /// The group of that name (`KS2`, `unidentified`), if the snapshot has it.
    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.groups
            .iter()
            .position(|g| g.name.eq_ignore_ascii_case(name))
            .map(|i| GroupId(i as u16))
    }

    pub fn group_name(&self, id: GroupId) -> &str {
        self.groups
            .get(usize::from(id.0))
            .map(|g| g.name.as_str())
            .unwrap_or("unknown group")
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.name.as_str())
    }

    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    pub fn list(&self, id: ListId) -> Option<&ListInfo> {
        self.lists.get(usize::from(id.0))
    }

    pub fn stats(&self) -> SnapshotStats {
        self.stats
    }

    /// The allow entries that would cover something on an illegal-content list: such an
    /// entry is refused when a policy is saved (UKSIC-F-IL-03), even though the engine would
    /// block the illegal content anyway. The entries are returned as written.
    pub fn illegal_conflicts(&self, allow: &[ListEntry]) -> Vec<String> {
        let overlaps = |a: &ListEntry, i: &ListEntry| match (a, i) {
            (ListEntry::Domain(d), ListEntry::Domain(bad)) => d.is_within(bad) || bad.is_within(d),
            (ListEntry::Domain(d), ListEntry::Url(bad)) => bad.host.is_within(d),
            (ListEntry::Url(u), ListEntry::Domain(bad)) => u.host.is_within(bad),
            (ListEntry::Url(u), ListEntry::Url(bad)) => {
                u.host == bad.host && (bad.path.starts_with(&u.path) || u.path.starts_with(&bad.path))
            }
        };
        allow
            .iter()
            .filter(|a| self.illegal_entries.iter().any(|i| overlaps(a, i)))
            .map(|a| match a {
                ListEntry::Domain(d) => d.to_string(),
                ListEntry::Url(u) => u.to_string(),
            })
            .collect()
    }

    /// Decides one request from a known person: as [`Snapshot::decide`], except that a
    /// site unblocked for this person is allowed (illegal content never is).
    pub fn decide_for(&self, req: &Request<'_>, person: Option<&str>) -> Decision {
        let d = self.decide(req);
        if d.verdict != Verdict::Block || d.is_illegal() || self.people.is_empty() {
            return d;
        }
        let Some(set) = person.and_then(|p| self.people.get(&p.to_lowercase())) else {
            return d;
        };
        let host = req.host.as_bytes();
        let mut buf = [0u64; MAX_LABELS];
        let n = suffix_fingerprints(host, self.seed, &mut buf);
        if n == 0 {
            return d;
        }
        match set.find(host, &buf[..n], req.path) {
            Some(entry) => Decision {
                verdict: Verdict::Allow,
                rule: Rule::PersonAllow { entry },
                ..d
            },
            None => d,
        }
    }

    /// Decides one request. Allocates nothing and takes no lock.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let Some(g) = self.groups.get(usize::from(req.group.0)) else {
            return Decision {
                verdict: Verdict::Block,
                category: None,
                rule: Rule::WalledGarden,
                group: req.group,
            };
        };
        let host = req.host.as_bytes();
        let mut buf = [0u64; MAX_LABELS];
        let n = suffix_fingerprints(host, self.seed, &mut buf);
        let block = |category, rule| Decision {
            verdict: Verdict::Block,
            category,
            rule,
            group: req.group,
        };
        if n == 0 {
            return block(None, Rule::InvalidHost);
        }
        let fps = &buf[..n];
        let whole = fps[n - 1];

        // 1. Illegal content: for everyone, before anything a school can change.
        if !self.illegal_domains.is_empty() {
            for &fp in fps.iter().rev() {
                if let Some(list) = self.illegal_domains.get(fp) {
                    return block(
                        Some(Category::IllegalContent),
                        Rule::IllegalContent {
                            list: ListId(list as u16),
                        },
                    );
                }
            }
        }
        if self.illegal_urls.len() > 0 {
            match req.path {
                Some(p) => {
                    if let Some(list) = self.illegal_urls.find(whole, p) {
                        return block(
                            Some(Category::IllegalContent),
                            Rule::IllegalContent {
                                list: ListId(list as u16),
                            },
                        );
                    }
                }
                None => {
                    if let Some(list) = self.illegal_urls.has_host(whole) {
                        return block(
                            Some(Category::IllegalContent),
                            Rule::IllegalPagesOnHost {
                                list: ListId(list as u16),
                            },
                        );
                    }
                }
            }
        }

        // What the lists say about the site: the most specific listing.
        let listing = self.listing(fps, req.path);
        let listed = listing
            .map(|p| self.payloads[p as usize].categories)
            .unwrap_or_default();

        // 2. The group's allow list.
        if let Some(entry) = g.allow.find(host, fps, req.path) {
            return self.allowed(g, req, whole, listed.first(), Rule::AllowList { entry });
        }
        // 3. The group's deny list.
        if let Some(entry) = g.deny.find(host, fps, req.path) {
            return block(listed.first(), Rule::DenyList { entry });
        }
        // 4. Categories the group blocks, now.
        if let Some(p) = listing {
            let (blocked, by_time, time_rule) = g.blocked_at(req.at);
            let payload = self.payloads[p as usize];
            if !payload.categories.intersection(blocked).is_empty() {
                let pairs = &self.pairs[payload.start as usize..(payload.start + payload.len) as usize];
                let (cat, list) = pairs
                    .iter()
                    .filter(|(c, _)| blocked.contains(*c))
                    .min_by_key(|(c, _)| *c as u8)
                    .copied()
                    .unwrap_or(pairs[0]);
                let time_rule = if by_time.contains(cat) && !g.policy.block.contains(cat) {
                    time_rule
                } else {
                    None
                };
                return block(
                    Some(cat),
                    Rule::Category {
                        list: ListId(list),
                        time_rule,
                    },
                );
            }
        }
        // 5. The group's default.
        let first_list = listing.map(|p| {
            let payload = self.payloads[p as usize];
            ListId(self.pairs[payload.start as usize].1)
        });
        match g.policy.default {
            DefaultVerdict::Allow => self.allowed(g, req, whole, listed.first(), Rule::Default { list: first_list }),
            DefaultVerdict::Deny => {
                let ok = listed.intersection(g.policy.allow_categories);
                match (ok.first(), listing) {
                    (Some(cat), Some(p)) => {
                        let payload = self.payloads[p as usize];
                        let pairs = &self.pairs[payload.start as usize..(payload.start + payload.len) as usize];
                        let list = pairs.iter().find(|(c, _)| *c == cat).map(|x| x.1).unwrap_or(0);
                        self.allowed(g, req, whole, Some(cat), Rule::AllowedCategory { list: ListId(list) })
                    }
                    _ => block(listed.first(), Rule::WalledGarden),
                }
            }
        }
    }

    /// The payload of the most specific listing: a page entry, then the longest domain.
    #[inline]
    fn listing(&self, fps: &[u64], path: Option<&str>) -> Option<u32> {
        if let Some(p) = path
            && self.urls.len() > 0
            && let Some(v) = self.urls.find(fps[fps.len() - 1], p)
        {
            return Some(v);
        }
        // Ask the filter about every suffix first: the loads do not depend on each other,
        // so they overlap instead of waiting in turn. Then probe the table for the
        // suffixes that passed, longest first. Suffixes shorter than any entry are skipped.
        let mut candidates = 0u64;
        for (i, &fp) in fps.iter().enumerate().skip(self.min_labels.saturating_sub(1)) {
            candidates |= u64::from(self.domain_index.may_contain(fp)) << i;
        }
        while candidates != 0 {
            let i = 63 - candidates.leading_zeros() as usize;
            if let Some(v) = self.domain_index.probe(fps[i]) {
                return Some(v);
            }
            candidates &= !(1u64 << i);
        }
        None
    }

    /// An allow, turned into a safe-search answer when the group enforces it and the host
    /// is a search engine: an allow-list entry for a search engine never turns safe search off.
    #[inline]
    fn allowed(
        &self,
        g: &CompiledGroup,
        req: &Request<'_>,
        whole: u64,
        category: Option<Category>,
        rule: Rule,
    ) -> Decision {
        let mut verdict = Verdict::Allow;
        if g.policy.safe_search
            && let Some(i) = self.search.get(whole)
            && host_has_suffix(req.host.as_bytes(), &self.search_names[i as usize])
        {
            verdict = Verdict::SafeSearch(self.search_engines[i as usize].safe_host(g.policy.youtube));
        }
        Decision {
            verdict,
            category,
            rule,
            group: req.group,
        }
    }

    /// A short name for the rule, for logs and the `explain` command. Illegal-content
    /// decisions never name their list or entry.
    pub fn rule_name(&self, d: &Decision) -> String {
        let g = self.groups.get(usize::from(d.group.0));
        match d.rule {
            Rule::IllegalContent { .. } | Rule::IllegalPagesOnHost { .. } => "illegal-content list".into(),
            Rule::AllowList { entry } => {
                format!("allow list: {}", g.map(|g| g.allow.describe(entry)).unwrap_or_default())
            }
            Rule::DenyList { entry } => format!("deny list: {}", g.map(|g| g.deny.describe(entry)).unwrap_or_default()),
            Rule::Category { list, time_rule } => {
                let l = self.list(list).map(|l| l.name.as_str()).unwrap_or("?");
                match time_rule {
                    Some(i) => format!(
                        "category {} (list {l}), time rule {}",
                        d.category.map(|c| c.name()).unwrap_or("?"),
                        i + 1
                    ),
                    None => format!("category {} (list {l})", d.category.map(|c| c.name()).unwrap_or("?")),
                }
            }
            Rule::AllowedCategory { list } => format!(
                "allowed category {} (list {})",
                d.category.map(|c| c.name()).unwrap_or("?"),
                self.list(list).map(|l| l.name.as_str()).unwrap_or("?")
            ),
            Rule::WalledGarden => "walled garden".into(),
            Rule::Default { .. } => "default".into(),
            Rule::InvalidHost => "invalid host name".into(),
            Rule::PersonAllow { .. } => "unblocked for this person".into(),
        }
    }

    /// A sentence a teacher understands.
    pub fn reason(&self, d: &Decision, target: &str) -> String {
        let group = self.group_name(d.group);
        let g = self.groups.get(usize::from(d.group.0));
        let cat = d.category.map(|c| c.label()).unwrap_or("uncategorised");
        let base = match d.rule {
            Rule::IllegalContent { .. } => {
                "This page is on a list of illegal content that must be blocked for everyone; nobody in school can unblock it.".to_owned()
            }
            Rule::IllegalPagesOnHost { .. } => {
                format!("{target} has pages on a list of illegal content. The whole site is blocked here because a DNS lookup cannot tell its pages apart; nobody in school can unblock it.")
            }
            Rule::AllowList { entry } => {
                format!("{group}'s allow list includes {}, so it is allowed.", g.map(|g| g.allow.describe(entry)).unwrap_or_default())
            }
            Rule::DenyList { entry } => {
                format!("{group}'s block list includes {}.", g.map(|g| g.deny.describe(entry)).unwrap_or_default())
            }
            Rule::Category { time_rule: Some(i), .. } => {
                let when = g.and_then(|g| g.policy.time_rules.get(usize::from(i))).map(describe_time).unwrap_or_default();
                format!("{target} is listed as {cat}, which {group} blocks {when}.")
            }
            Rule::Category { .. } => format!("{target} is listed as {cat}, which {group} blocks."),
            Rule::AllowedCategory { .. } => format!("{target} is listed as {cat}, which {group} may use."),
            Rule::WalledGarden => format!("{group} can only use the sites chosen for it, and {target} is not one of them."),
            Rule::Default { list: Some(_) } => format!("{target} is listed as {cat}, which {group} does not block."),
            Rule::Default { list: None } => format!("Nothing in {group}'s policy blocks {target}."),
            Rule::InvalidHost => format!("{target:?} is not a web address."),
            Rule::PersonAllow { .. } => format!("{target} was unblocked for you, though {group} blocks it."),
        };
        match d.verdict {
            Verdict::SafeSearch(host) => {
                format!("{base} Safe search is on for {group}, so searches go through {host}.")
            }
            _ => base,
        }
    }
}

fn describe_time(r: &CompiledTimeRule) -> String {
    let days: Vec<&str> = crate::rules::WEEKDAYS
        .iter()
        .enumerate()
        .filter(|(i, _)| r.days & (1 << i) != 0)
        .map(|(_, d)| *d)
        .collect();
    let days = if days == ["mon", "tue", "wed", "thu", "fri"] {
        "on weekdays".to_owned()
    } else {
        format!("on {}", days.join(", "))
    };
    format!(
        "between {:02}:{:02} and {:02}:{:02} {days}",
        r.from / 60,
        r.from % 60,
        r.to / 60,
        r.to % 60
    )
}

/// Where lookups read the current snapshot. Reloading swaps in a new one atomically;
/// lookups in flight finish on the old one, and none waits.
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Snapshot>,
}

impl Engine {
    pub fn new(snapshot: Snapshot) -> Engine {
        Engine {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    #[inline]
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        self.current.load().decide(req)
    }

    /// The snapshot now in use (to explain a decision, or to find a group).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The snapshot now in use, borrowed for one decision. Unlike [`Engine::snapshot`] it
    /// writes nothing shared: a DNS loop per core cloning the one `Arc` moved its count's
    /// cache line between the cores on every question.
    #[inline]
    pub fn current(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Puts a new snapshot in place.
    pub fn replace(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Builds a new snapshot with `build` and puts it in place; if building fails, the old
    /// one stays and the error is returned for the caller to report.
    pub fn reload<E>(&self, build: impl FnOnce() -> Result<Snapshot, E>) -> Result<(), E> {
        let s = build()?;
        self.replace(s);
        Ok(())
    }
}
