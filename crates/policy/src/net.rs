//! Networks of addresses, such as the pupil Wi-Fi's `10.20.0.0/16`: the DNS server and the
//! proxy both give a subnet's devices a default group.

use std::net::IpAddr;

/// An IPv4 or IPv6 network, such as `10.20.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a subnet such as 10.20.0.0/16"))?;
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("{a:?} is not an IP address"))?;
        let prefix: u8 = p.trim().parse().map_err(|_| format!("{p:?} is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("/{prefix} is longer than an address"));
        }
        Ok(Subnet { addr, prefix })
    }
}

impl Subnet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}
