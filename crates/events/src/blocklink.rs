//! Signed links from the proxy to the console's block page. The proxy knows who was
//! blocked; the console, reached afterwards (possibly through the proxy, so from the proxy's
//! address), does not. The link carries the page's URL, the person and the group with an HMAC under a
//! key the two share in one process, so a pupil cannot file an unblock request in someone
//! else's name by editing the link.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a link is believed.
pub const LINK_LIFETIME_SECS: i64 = 3600;

/// What a block-page link vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub url: String,
    pub person: Option<String>,
    pub group: String,
    /// Unix seconds when the block happened.
    pub at: i64,
}

fn mac(key: &[u8; 32], b: &Blocked) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    // Lengths first, so that no two different links can share a message.
    for part in [b.url.as_str(), b.person.as_deref().unwrap_or(""), b.group.as_str()] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.update(&[u8::from(b.person.is_some())]);
    m.update(&b.at.to_be_bytes());
    Some(m)
}

/// The signature for `b`, in hex.
pub fn sign(key: &[u8; 32], b: &Blocked) -> String {
    mac(key, b)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `sig` is `b`'s signature and the link is recent (a little clock skew allowed).
pub fn verify(key: &[u8; 32], b: &Blocked, sig: &str, now: i64) -> bool {
    let fresh = b.at <= now.saturating_add(300) && now.saturating_sub(b.at) <= LINK_LIFETIME_SECS;
    let Ok(bytes) = hex::decode(sig) else { return false };
    fresh && mac(key, b).is_some_and(|m| m.verify_slice(&bytes).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_believed_only_unchanged_fresh_and_under_the_key() {
        let key = [7u8; 32];
        let b = Blocked {
            url: "http://games.example/play".into(),
            person: Some("zhart".into()),
            group: "KS2".into(),
            at: 1_000_000,
        };
        let sig = sign(&key, &b);
        assert!(verify(&key, &b, &sig, 1_000_010));
        assert!(!verify(&key, &b, &sig, 1_000_000 + LINK_LIFETIME_SECS + 1), "stale");
        assert!(!verify(&[8u8; 32], &b, &sig, 1_000_010), "another key");
        for changed in [
            Blocked {
                person: Some("apatel".into()),
                ..b.clone()
            },
            Blocked {
                person: None,
                ..b.clone()
            },
            Blocked {
                group: "Staff".into(),
                ..b.clone()
            },
            Blocked {
                url: "http://games.example/other".into(),
                ..b.clone()
            },
        ] {
            assert!(!verify(&key, &changed, &sig, 1_000_010), "{changed:?}");
        }
        assert!(!verify(&key, &b, "zz", 1_000_010));
        let hostile = Blocked {
            at: i64::MIN,
            ..b.clone()
        };
        assert!(
            !verify(&key, &hostile, &sign(&key, &hostile), i64::MAX),
            "no overflow, not fresh"
        );
    }
}
