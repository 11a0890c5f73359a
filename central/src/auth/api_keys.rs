//! API keys for integrations: `atr_<prefix>_<secret>`.
//!
//! The prefix (8 lowercase letters and digits) is stored in clear to find
//! the key's row and to show in lists; the secret (32 base62 characters,
//! about 190 bits) is stored only as its SHA-256. A fast hash is right
//! here, unlike for passwords: the secret is random and long, so there is
//! nothing to guess, and every request pays for the check. The comparison
//! is constant-time.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Every key starts with this.
pub const PREFIX: &str = "atr_";
const PREFIX_LEN: usize = 8;
const SECRET_LEN: usize = 32;

/// A key as created: the whole text is shown once, then only `prefix`.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub prefix: String,
    pub text: String,
    pub secret_hash: [u8; 32],
}

/// A presented key, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    pub prefix: &'a str,
    pub secret: &'a str,
}

/// Why a presented key is not even worth looking up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("an API key starts with \"atr_\"")]
    WrongPrefix,
    #[error("an API key is atr_<8 lowercase letters or digits>_<32 letters or digits>")]
    Malformed,
}

/// Makes a new random key.
pub fn generate() -> NewKey {
    let mut rng = rand::rng();
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| {
            let i = rng.random_range(0..36u8);
            char::from(if i < 10 { b'0' + i } else { b'a' + i - 10 })
        })
        .collect();
    let secret: String = (&mut rng)
        .sample_iter(rand::distr::Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    NewKey {
        text: format!("{PREFIX}{prefix}_{secret}"),
        secret_hash: hash(&secret),
        prefix,
    }
}

/// Splits `atr_<prefix>_<secret>`.
pub fn parse(text: &str) -> Result<Presented<'_>, FormatError> {
    let rest = text.strip_prefix(PREFIX).ok_or(FormatError::WrongPrefix)?;
    let (prefix, secret) = rest.split_once('_').ok_or(FormatError::Malformed)?;
    let prefix_ok = prefix.len() == PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    if prefix_ok && secret_ok {
        Ok(Presented { prefix, secret })
    } else {
        Err(FormatError::Malformed)
    }
}

/// Whether `text` looks like one of our keys (so a bearer token that does
/// is treated as a key, not as a JWT).
pub fn looks_like_key(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` matches `stored`, in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    let h = hash(secret);
    if stored.len() != h.len() {
        return false;
    }
    h.iter().zip(stored).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_only_their_own_hash() {
        let a = generate();
        let b = generate();
        assert_ne!(a.text, b.text);
        let p = parse(&a.text).unwrap();
        assert_eq!(p.prefix, a.prefix);
        assert!(matches(p.secret, &a.secret_hash));
        assert!(!matches(p.secret, &b.secret_hash));
        assert!(!matches(p.secret, &a.secret_hash[..31]));
        // The stored hash is not the secret.
        assert!(!a.text.contains(&hex::encode(a.secret_hash)));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let good = generate().text;
        assert_eq!(
            parse(&good.replacen("atr_", "atx_", 1)),
            Err(FormatError::WrongPrefix)
        );
        assert_eq!(parse("atr_"), Err(FormatError::Malformed));
        assert_eq!(
            parse(&format!("{good}x")),
            Err(FormatError::Malformed),
            "secret too long"
        );
        assert_eq!(
            parse(&format!("atr_ABCDEFGH_{}", "a".repeat(32))),
            Err(FormatError::Malformed),
            "upper-case prefix"
        );
        assert_eq!(
            parse("atr_abcdefgh_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
            Err(FormatError::Malformed)
        );
        assert!(looks_like_key(&good) && !looks_like_key("eyJhbGciOi"));
    }
}
