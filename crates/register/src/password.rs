//! The password rule and password hashing.
//!
//! The rule is a strength estimate (zxcvbn), not a list of character classes: the DfE cyber
//! security standard asks that strength is enforced by the system, and NIST 800-63B shows
//! that composition rules produce `Password1!`. Hashes are argon2id with the OWASP baseline
//! parameters, kept as PHC strings so that the parameters can be raised later and old
//! hashes still verify.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use rand::rngs::OsRng;

/// Shortest password accepted whatever its estimated strength.
pub const MIN_LENGTH: usize = 10;

/// Why a password was refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("use at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("this password would be too easy to guess{}", hint(.warning, .suggestion))]
    Guessable {
        warning: Option<String>,
        suggestion: Option<String>,
    },
}

fn hint(warning: &Option<String>, suggestion: &Option<String>) -> String {
    let mut s = String::new();
    for part in [warning, suggestion].into_iter().flatten() {
        s.push_str(": ");
        s.push_str(part.trim_end_matches('.'));
    }
    s
}

/// Checks a new password against the rule. `context` holds words an attacker would try
/// first: the username, the person's names, the school's name.
pub fn check_strength(password: &str, context: &[&str]) -> Result<(), WeakPassword> {
    if password.chars().count() < MIN_LENGTH {
        return Err(WeakPassword::TooShort);
    }
    let lower = password.to_lowercase();
    if let Some(word) = context
        .iter()
        .map(|w| w.trim().to_lowercase())
        .find(|w| w.chars().count() >= 4 && lower.contains(w.as_str()))
    {
        return Err(WeakPassword::Guessable {
            warning: Some(format!(
                "it contains \"{word}\", which is one of the first things anyone would try"
            )),
            suggestion: Some("leave out your name, your username and the school's name".to_owned()),
        });
    }
    let estimate = zxcvbn::zxcvbn(password, context);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let feedback = estimate.feedback();
    Err(WeakPassword::Guessable {
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestion: feedback.and_then(|f| f.suggestions().first()).map(|s| s.to_string()),
    })
}

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("argon2 hashing with valid parameters and a generated salt cannot fail")
}

/// Checks a password against a stored PHC string. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when there is no account, so that an unknown username takes
/// as long to refuse as a wrong password and does not reveal which usernames exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&generate()))
}

/// A generated password for a new or reset account: 20 characters from an alphabet without
/// look-alikes (no `0/O`, `1/l/I`), in groups of five so it can be read out and typed.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = OsRng;
    let mut out = String::with_capacity(23);
    for i in 0..20 {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "password123",
            "Password1!",
            "qwertyuiop",
            "letmein2024",
            "aaaaaaaaaaaa",
            "demoprimary1",
        ] {
            let err = check_strength(weak, &["demo", "primary"]).expect_err(weak);
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn short_passwords_are_refused_whatever_their_strength() {
        assert_eq!(check_strength("k#9Lq!2z", &[]), Err(WeakPassword::TooShort));
    }

    #[test]
    fn a_password_built_from_the_username_is_refused() {
        assert!(check_strength("jsmith2024jsmith", &["jsmith"]).is_err());
    }

    #[test]
    fn strong_passwords_are_accepted() {
        for strong in [
            "correct horse battery staple",
            "Tadpole-Lantern-Quarry-47",
            "v8#Lk2!pQz9@wR",
        ] {
            assert_eq!(check_strength(strong, &[]), Ok(()), "{strong}");
        }
    }

    #[test]
    fn generated_passwords_pass_the_rule() {
        for _ in 0..20 {
            let p = generate();
            assert_eq!(p.len(), 23);
            assert_eq!(check_strength(&p, &[]), Ok(()), "{p}");
        }
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let h = hash("Tadpole-Lantern-Quarry-47");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Tadpole-Lantern-Quarry-47", &h));
        assert!(!verify("tadpole-lantern-quarry-47", &h));
        assert!(!verify("anything", "not a hash"));
        assert!(!verify("anything", decoy_hash()));
    }
}
