//! The configuration file: every key, its default, and how a bad file is reported.
//!
//! The file is TOML. Every key has a default, so no file is needed; an unknown key is an
//! error (a misspelt `idle_timout` must not silently leave the default in force), and every
//! error names the key and the line. The raw file is parsed into [`FileConfig`], then
//! command-line flags are laid over it, then each component gets its own config value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use register::agreements::YearStart;
use register::roles::SecondFactorRule;
use serde::{Deserialize, Deserializer};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The data directory: database, lock file, attachments.
    pub data: PathBuf,
    /// `sqlite` (the file `schoolgate.db` in the data directory) or a `postgres://` URL.
    pub database: String,
    pub school: SchoolConfig,
    pub console: ConsoleConfig,
    pub dns: DnsConfig,
    pub proxy: ProxyConfig,
    pub filter: FilterConfig,
    /// The mail server. Without it, alert emails and digests wait in the outbox (the
    /// dashboard says so) until it is set.
    pub mail: Option<notify::MailConfig>,
    pub digest: DigestConfig,
    pub incidents: IncidentsConfig,
}

/// The online safety log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// A record nobody on its route has opened within this goes on to the next person on
    /// the route (the headteacher after the DSL team, the Chair after the headteacher).
    #[serde(deserialize_with = "duration")]
    pub escalate_after: Duration,
    /// The LADO's contact details (name, phone, email), shown on records about staff and
    /// the headteacher.
    pub lado: String,
    /// The school's own actions, offered beside the fixed list.
    pub actions: Vec<String>,
    /// Years a record not about pupils is kept before review (records about pupils are kept
    /// until the youngest pupil's 25th birthday).
    pub retain_other_years: u32,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            escalate_after: Duration::from_secs(4 * 3600),
            lado: String::new(),
            actions: Vec::new(),
            retain_other_years: 6,
        }
    }
}

/// When the daily digest and the weekly summary go, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// UK local time the digest is sent on each school day, `HH:MM`.
    #[serde(deserialize_with = "clock")]
    pub time: u16,
    /// The school days: the digest goes on these.
    #[serde(deserialize_with = "weekdays")]
    pub days: Vec<u8>,
    /// The day the weekly summary goes (at the same time).
    #[serde(deserialize_with = "weekday")]
    pub weekly_day: u8,
    /// Email addresses; empty: the headteacher, the DSL and the technician (people with
    /// those roles and an email address). The weekly summary goes to the safeguarding
    /// governor too.
    pub recipients: Vec<String>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            time: 7 * 60 + 30,
            days: vec![0, 1, 2, 3, 4],
            weekly_day: 0,
            recipients: Vec::new(),
        }
    }
}

const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn parse_weekday(s: &str) -> Option<u8> {
    let s = s.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| *d == s || (s.len() >= 3 && d.starts_with(&s)))
        .map(|i| i as u8)
}

fn weekday<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let text = String::deserialize(d)?;
    parse_weekday(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a day of the week")))
}

fn weekdays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let days = Vec::<String>::deserialize(d)?;
    days.iter()
        .map(|t| parse_weekday(t).ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not a day of the week"))))
        .collect()
}

fn clock<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let text = String::deserialize(d)?;
    let bad = || {
        serde::de::Error::custom(format!(
            "{text:?} is not a time of day: write it as HH:MM, such as 07:30"
        ))
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    pub listen: SocketAddr,
    /// Resolvers allowed names are forwarded to, tried in order (`"9.9.9.9"`,
    /// `"[2620:fe::fe]:53"`, or DNS-over-TLS `"tls://9.9.9.9#dns.quad9.net"`). Empty: the
    /// machine's own (`/etc/resolv.conf`).
    #[serde(deserialize_with = "upstreams")]
    pub upstreams: Vec<dns::UpstreamAddr>,
    /// A PEM file of CA certificates trusted for DNS-over-TLS upstreams besides the public
    /// roots (a trust's own resolver).
    pub upstream_ca: Option<PathBuf>,
    #[serde(deserialize_with = "duration")]
    pub upstream_timeout: Duration,
    /// `block_page` (blocked names answer with the block page's address) or `nxdomain`.
    pub block_mode: BlockModeConfig,
    /// The block page's address as school devices reach it [default: the console's address].
    pub block_page_ipv4: Option<std::net::Ipv4Addr>,
    pub block_page_ipv6: Option<std::net::Ipv6Addr>,
    /// Answers kept in the cache at most.
    pub cache_entries: u64,
    pub max_tcp_connections: usize,
    /// Questions a second one client may ask before the rest are dropped (0: no limit).
    pub per_client_qps: u32,
    /// Default groups of subnets, first match wins: `[[dns.subnets]] subnet = "10.20.0.0/16"
    /// group = "KS2"`.
    pub subnets: Vec<SubnetGroup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BlockModeConfig {
    #[default]
    BlockPage,
    Nxdomain,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetGroup {
    #[serde(deserialize_with = "subnet")]
    pub subnet: dns::Subnet,
    pub group: String,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5300)),
            upstreams: Vec::new(),
            upstream_ca: None,
            upstream_timeout: Duration::from_secs(2),
            block_mode: BlockModeConfig::default(),
            block_page_ipv4: None,
            block_page_ipv6: None,
            cache_entries: 100_000,
            max_tcp_connections: 256,
            per_client_qps: 500,
            subnets: Vec::new(),
        }
    }
}

/// An upstream resolver: an address (port 53 when none is given) or `tls://ADDR#NAME`.
pub fn parse_upstream(text: &str) -> Result<dns::UpstreamAddr, String> {
    text.parse()
}

fn upstreams<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<dns::UpstreamAddr>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.iter()
        .map(|s| parse_upstream(s).map_err(serde::de::Error::custom))
        .collect()
}

fn subnet<'de, D: Deserializer<'de>>(d: D) -> Result<dns::Subnet, D::Error> {
    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// How often a running server checks the store for changed lists and policies.
    #[serde(deserialize_with = "duration")]
    pub reload_check: Duration,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            reload_check: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchoolConfig {
    /// The name given to a new, empty school on first start.
    pub name: String,
    /// The first day of the academic year, `MM-DD`: agreements and photo consent are
    /// renewed from it [default: 09-01].
    #[serde(deserialize_with = "year_start")]
    pub year_start: YearStart,
}

fn year_start<'de, D: Deserializer<'de>>(d: D) -> Result<YearStart, D::Error> {
    let text = String::deserialize(d)?;
    YearStart::parse(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// How people reach the console (`https://schoolgate.school.example`); defaults to
    /// `http://` and the listen address. Cookies are marked Secure when it is `https://`.
    pub public_url: Option<String>,
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub session_lifetime: Duration,
    pub second_factor: SecondFactorRule,
    pub sign_in: SignInConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    pub max_failures: u32,
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    pub slow_after: u32,
    #[serde(deserialize_with = "duration")]
    pub slow_step: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// Connections open at once; more are refused.
    pub max_connections: usize,
    /// A request's headers must arrive within this (and an idle connection closes after it).
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Ports HTTPS tunnels (CONNECT) may open; empty allows any.
    pub connect_ports: Vec<u16>,
    /// How long after a proxy sign-in the DNS server counts that address as that person.
    #[serde(deserialize_with = "duration")]
    pub sign_in_lasts: Duration,
    /// Subnets whose devices need no sign-in, and their group:
    /// `[[proxy.open_subnets]] subnet = "10.30.0.0/16" group = "KS1"`.
    pub open_subnets: Vec<SubnetGroup>,
    /// The proxy's `host:port` as school devices reach it, for `/proxy.pac` [default: the
    /// listen address, or the console's host with the proxy's port when listening on all].
    pub public_address: Option<String>,
    /// Hosts that `/proxy.pac` sends direct, not through the proxy (`*.school.internal`).
    pub pac_direct: Vec<String>,
    /// Fixed addresses for names the proxy connects to, before DNS: a school's own servers
    /// (`[proxy.hosts] "mis.school.internal" = "10.0.0.8"`).
    pub hosts: std::collections::BTreeMap<String, std::net::IpAddr>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            connect_ports: vec![443],
            sign_in_lasts: Duration::from_secs(3600),
            open_subnets: Vec::new(),
            public_address: None,
            pac_direct: Vec::new(),
            hosts: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            data: PathBuf::from("./schoolgate-data"),
            database: "sqlite".into(),
            school: SchoolConfig::default(),
            console: ConsoleConfig::default(),
            dns: DnsConfig::default(),
            proxy: ProxyConfig::default(),
            filter: FilterConfig::default(),
            mail: None,
            digest: DigestConfig::default(),
            incidents: IncidentsConfig::default(),
        }
    }
}

impl Default for SchoolConfig {
    fn default() -> Self {
        SchoolConfig {
            name: "Our School".into(),
            year_start: YearStart::default(),
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        let console = console::Config::default();
        ConsoleConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            idle_timeout: console.idle_timeout,
            session_lifetime: console.session_lifetime,
            second_factor: console.second_factor,
            sign_in: SignInConfig::default(),
        }
    }
}

impl Default for SignInConfig {
    fn default() -> Self {
        let l = console::SignInLimits::default();
        SignInConfig {
            max_failures: l.max_failures,
            window: l.window,
            slow_after: l.slow_after,
            slow_step: l.slow_step,
        }
    }
}

/// A file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl FileConfig {
    /// Parses a configuration file's text; `origin` names it in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<FileConfig, ConfigError> {
        let config: FileConfig = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.to_owned(),
            message: describe(text, &e),
        })?;
        config.validate().map_err(|message| ConfigError {
            origin: origin.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let c = &self.console;
        if self.incidents.escalate_after < Duration::from_secs(10) {
            return Err("incidents.escalate_after must be at least 10 seconds".into());
        }
        if c.idle_timeout.is_zero() {
            return Err("console.idle_timeout must be more than zero".into());
        }
        if c.session_lifetime < c.idle_timeout {
            return Err("console.session_lifetime must be at least console.idle_timeout".into());
        }
        if c.sign_in.max_failures == 0 || c.sign_in.max_failures > 10 {
            return Err("console.sign_in.max_failures must be between 1 and 10 (DfE cyber security standard: no more than 10 guesses in 5 minutes)".into());
        }
        if let Some(url) = &c.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "console.public_url must start with http:// or https://, not {url:?}"
            ));
        }
        if !(self.database == "sqlite"
            || self.database.starts_with("postgres://")
            || self.database.starts_with("postgresql://"))
        {
            return Err(format!(
                "database must be \"sqlite\" or a postgres:// URL, not {:?}",
                self.database
            ));
        }
        Ok(())
    }

    /// The console's own configuration.
    pub fn console(&self) -> console::Config {
        let c = &self.console;
        console::Config {
            public_url: c
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", c.listen))
                .trim_end_matches('/')
                .to_owned(),
            idle_timeout: c.idle_timeout,
            session_lifetime: c.session_lifetime,
            second_factor: c.second_factor,
            sign_in: console::SignInLimits {
                max_failures: c.sign_in.max_failures,
                window: c.sign_in.window,
                slow_after: c.sign_in.slow_after,
                slow_step: c.sign_in.slow_step,
            },
            pac: console::pac::Pac {
                proxy: self.proxy.public_address.clone().unwrap_or_default(),
                direct: self.proxy.pac_direct.clone(),
            },
            attachments: Some(self.data.join("attachments")),
            lado: self.incidents.lado.trim().to_owned(),
            extra_actions: self
                .incidents
                .actions
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
            retain_other_years: i64::from(self.incidents.retain_other_years.clamp(1, 100)),
            year_start: self.school.year_start,
        }
    }
}

/// toml's message, with the line and the key spelt out plainly.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_owned();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let snippet = text.lines().nth(line - 1).unwrap_or_default().trim();
            format!("line {line}: {message} (at `{snippet}`)")
        }
        None => message,
    }
}

/// Reads durations written as people write them: `90s`, `20m`, `10h`, `1d`, `500ms`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration: write a number and a unit, such as 90s, 20m or 10h"
        ))
    })
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Duration::from_millis(n)),
        "s" | "sec" | "secs" | "second" | "seconds" => n,
        "m" | "min" | "mins" | "minute" | "minutes" => n.checked_mul(60)?,
        "h" | "hour" | "hours" => n.checked_mul(3600)?,
        "d" | "day" | "days" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: [(&str, &str); 2] = [
        (
            "examples/config/schoolgate.toml",
            include_str!("../../../examples/config/schoolgate.toml"),
        ),
        (
            "examples/config/trust-postgres.toml",
            include_str!("../../../examples/config/trust-postgres.toml"),
        ),
    ];

    #[test]
    fn the_academic_year_start_reads_as_month_and_day_and_refuses_what_is_not() {
        let c = FileConfig::from_toml("y.toml", "[school]\nyear_start = \"08-15\"\n").expect("reads");
        assert_eq!(c.school.year_start, YearStart::parse("08-15").expect("date"));
        let e = FileConfig::from_toml("y.toml", "[school]\nyear_start = \"02-30\"\n").unwrap_err();
        assert!(
            e.to_string().contains("line 2: \"02-30\" is not a month and day"),
            "{e}"
        );
    }

    #[test]
    fn digest_times_and_days_read_as_people_write_them() {
        let c = FileConfig::from_toml(
            "d.toml",
            "[digest]\ntime = \"16:05\"\ndays = [\"Mon\", \"wednesday\"]\nweekly_day = \"fri\"\n",
        )
        .expect("reads");
        assert_eq!(
            (c.digest.time, c.digest.days.clone(), c.digest.weekly_day),
            (16 * 60 + 5, vec![0, 2], 4)
        );
        for bad in [
            "time = \"25:00\"",
            "time = \"7.30\"",
            "days = [\"someday\"]",
            "weekly_day = \"mo\"",
        ] {
            let e = FileConfig::from_toml("d.toml", &format!("[digest]\n{bad}\n")).expect_err(bad);
            assert!(e.to_string().contains("d.toml"), "{e}");
        }
        let e = FileConfig::from_toml("m.toml", "[mail]\nserver = \"x\"\nfrom = \"a@b\"\npasword = \"x\"\n")
            .expect_err("typo");
        assert!(e.to_string().contains("pasword"), "{e}");
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let c = FileConfig::from_toml("empty.toml", "").expect("empty is fine");
        assert_eq!(c, FileConfig::default());
        assert_eq!(
            c.console.idle_timeout,
            Duration::from_secs(20 * 60),
            "the policies' 20 minutes idle lock-out"
        );
        assert_eq!(c.console().public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn the_example_configs_parse() {
        for (name, text) in EXAMPLES {
            FileConfig::from_toml(name, text).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Puts an unknown key into every table of every example, in turn, and expects each to
    /// be refused with the key and its line named.
    #[test]
    fn an_unknown_key_in_any_table_of_any_example_is_an_error() {
        for (name, text) in EXAMPLES {
            let lines: Vec<&str> = text.lines().collect();
            let mut positions: Vec<usize> = vec![0];
            positions.extend(
                lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.trim_start().starts_with('['))
                    .map(|(i, _)| i + 1),
            );
            for pos in positions {
                let mut edited = lines.clone();
                edited.insert(pos, "surprise_key = 1");
                let err = FileConfig::from_toml(name, &edited.join("\n")).expect_err("unknown key refused");
                let msg = err.to_string();
                assert!(msg.contains("surprise_key"), "{name} at {pos}: {msg}");
                assert!(msg.contains(&format!("line {}", pos + 1)), "{name} at {pos}: {msg}");
            }
        }
    }

    #[test]
    fn a_malformed_value_names_its_key_and_line() {
        let err = FileConfig::from_toml(
            "s.toml",
            "[console]\nlisten = \"127.0.0.1:8080\"\nidle_timeout = \"soon\"\n",
        )
        .expect_err("bad");
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("idle_timeout"), "{msg}");

        let err = FileConfig::from_toml("s.toml", "[dns]\nlisten = \"not an address\"\n").expect_err("bad");
        assert!(err.to_string().contains("line 2"), "{err}");

        let err = FileConfig::from_toml("s.toml", "[console\nlisten = 1\n").expect_err("bad");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn rules_across_keys_are_checked() {
        for (text, needle) in [
            ("[console]\nidle_timeout = \"0s\"\n", "idle_timeout"),
            ("[console.sign_in]\nmax_failures = 50\n", "max_failures"),
            ("database = \"mysql://x\"\n", "database"),
            ("[console]\npublic_url = \"ftp://x\"\n", "public_url"),
        ] {
            let err = FileConfig::from_toml("s.toml", text).expect_err(text);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m"), Some(Duration::from_secs(1200)));
        assert_eq!(parse_duration("10 hours"), Some(Duration::from_secs(36000)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        for bad in ["", "m", "20", "20 fortnights", "-5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
