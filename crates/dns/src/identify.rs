//! Who is asking: a client address becomes a person or device and a group before policy is
//! asked.
//!
//! The order is the issue's: (1) a device in the register with a fixed address, (2) a person
//! who signed in to the proxy from that address recently, (3) the default group of the
//! client's subnet, (4) otherwise the *unidentified* policy. Sign-ins expire, so a shared
//! laptop does not carry yesterday's pupil into today's lesson.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
pub use policy::Subnet;

/// How a client was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Device,
    SignIn,
    Subnet,
    Unidentified,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::SignIn => "sign_in",
            Source::Subnet => "subnet",
            Source::Unidentified => "unidentified",
        }
    }
}

/// The answer to "who is asking?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub group: String,
    pub device: Option<String>,
    /// The person's username, when known.
    pub person: Option<String>,
    pub source: Source,
}

#[derive(Debug, Clone)]
struct SignIn {
    person: Arc<str>,
    group: Arc<str>,
    until: Instant,
}

/// The identification tables. Devices are replaced whole when the register changes; sign-ins
/// are added as the proxy sees them and expire.
///
/// Both are read on every question and written rarely, so both are copied on write: a lock
/// taken to read, even a shared one, writes to its own state, and with a DNS loop per core
/// that state moved between the cores on every question.
#[derive(Debug)]
pub struct Attribution {
    devices: ArcSwap<HashMap<IpAddr, (String, String)>>,
    sign_ins: ArcSwap<HashMap<IpAddr, SignIn>>,
    subnets: Vec<(Subnet, String)>,
    unidentified: String,
}

impl Attribution {
    /// `subnets` in order: the first that contains the address decides.
    pub fn new(subnets: Vec<(Subnet, String)>, unidentified: &str) -> Attribution {
        Attribution {
            devices: ArcSwap::from_pointee(HashMap::new()),
            sign_ins: ArcSwap::from_pointee(HashMap::new()),
            subnets,
            unidentified: unidentified.to_owned(),
        }
    }

    /// Replaces the devices with fixed addresses: address → (device name, group).
    pub fn set_devices(&self, devices: HashMap<IpAddr, (String, String)>) {
        self.devices.store(std::sync::Arc::new(devices));
    }

    /// Records that `person` (of `group`) signed in from `ip`, for `for_how_long`.
    pub fn record_sign_in(&self, ip: IpAddr, person: &str, group: &str, for_how_long: Duration, now: Instant) {
        let signed = SignIn {
            person: person.into(),
            group: group.into(),
            until: now + for_how_long,
        };
        // The proxy signs a busy pupil in again every half minute or so; copying a map of
        // a school's sign-ins (shared names, no new strings) that often costs little.
        self.sign_ins.rcu(|old| {
            let mut map = HashMap::clone(old);
            map.insert(ip, signed.clone());
            if map.len() > 10_000 {
                map.retain(|_, s| s.until > now);
            }
            map
        });
    }

    pub fn identify(&self, ip: IpAddr, now: Instant) -> Who {
        if let Some((device, group)) = self.devices.load().get(&ip) {
            return Who {
                group: group.clone(),
                device: Some(device.clone()),
                person: None,
                source: Source::Device,
            };
        }
        if let Some(s) = self.sign_ins.load().get(&ip)
            && s.until > now
        {
            return Who {
                group: s.group.to_string(),
                device: None,
                person: Some(s.person.to_string()),
                source: Source::SignIn,
            };
        }
        if let Some((_, group)) = self.subnets.iter().find(|(net, _)| net.contains(ip)) {
            return Who {
                group: group.clone(),
                device: None,
                person: None,
                source: Source::Subnet,
            };
        }
        Who {
            group: self.unidentified.clone(),
            device: None,
            person: None,
            source: Source::Unidentified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn attribution_follows_device_then_sign_in_then_subnet_then_unidentified() {
        let a = Attribution::new(
            vec![
                ("10.20.0.0/16".parse().expect("net"), "KS2".into()),
                ("10.0.0.0/8".parse().expect("net"), "Staff".into()),
            ],
            "unidentified",
        );
        let now = Instant::now();
        a.set_devices(HashMap::from([(
            ip("10.20.1.5"),
            ("Library iPad 3".to_owned(), "KS1".to_owned()),
        )]));
        a.record_sign_in(ip("10.20.1.5"), "zhart", "KS2", Duration::from_secs(60), now);
        a.record_sign_in(ip("10.20.1.6"), "zhart", "KS2", Duration::from_secs(60), now);

        assert_eq!(
            a.identify(ip("10.20.1.5"), now).source,
            Source::Device,
            "a registered device wins"
        );
        let w = a.identify(ip("10.20.1.6"), now);
        assert_eq!(
            (w.source, w.person.as_deref(), w.group.as_str()),
            (Source::SignIn, Some("zhart"), "KS2")
        );
        let later = a.identify(ip("10.20.1.6"), now + Duration::from_secs(61));
        assert_eq!(
            (later.source, later.group.as_str()),
            (Source::Subnet, "KS2"),
            "sign-ins expire"
        );
        assert_eq!(
            a.identify(ip("10.1.2.3"), now).group,
            "Staff",
            "the first matching subnet decides"
        );
        assert_eq!(a.identify(ip("192.168.1.1"), now).source, Source::Unidentified);
        assert_eq!(a.identify(ip("::1"), now).source, Source::Unidentified);
    }

    #[test]
    fn subnets_parse_and_match_at_their_edges() {
        let n: Subnet = "192.168.10.0/24".parse().expect("net");
        assert!(n.contains(ip("192.168.10.0")) && n.contains(ip("192.168.10.255")));
        assert!(!n.contains(ip("192.168.11.0")));
        let all: Subnet = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: Subnet = "fd00::/8".parse().expect("net");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }
}
