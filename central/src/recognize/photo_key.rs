//! Enrolment photos at rest: AES-256-GCM with a key from a file.
//!
//! Photos are the most sensitive data central holds (a face, a name), and
//! database dumps and backups travel further than the server does, so a
//! deployment can keep them encrypted with a key that lives only on the
//! central hosts. GCM authenticates as well as encrypts: a tampered or
//! wrongly keyed photo fails to open instead of decoding to garbage. Each
//! photo gets a fresh random 96-bit nonce, stored in front of the
//! ciphertext.

use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const NONCE_LEN: usize = 12;

/// Why a key or a photo could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PhotoKeyError {
    #[error("cannot read photo key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "photo key {0} must hold 64 hexadecimal characters (32 bytes); make one with `openssl rand -hex 32`"
    )]
    Format(String),
    #[error("photo cannot be decrypted (wrong key or damaged data)")]
    Decrypt,
    #[error("photo cannot be encrypted")]
    Encrypt,
}

/// The key photos are sealed with.
#[derive(Clone)]
pub struct PhotoKey(Aes256Gcm);

impl std::fmt::Debug for PhotoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhotoKey(…)")
    }
}

impl PhotoKey {
    /// Reads a key file: 64 hex characters, surrounding whitespace allowed.
    pub fn load(path: &Path) -> Result<Self, PhotoKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PhotoKeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_hex(text.trim()).ok_or_else(|| PhotoKeyError::Format(path.display().to_string()))
    }

    /// A key from 64 hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex::decode(hex).ok().filter(|b| b.len() == 32)?;
        Some(Self(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes))))
    }

    /// nonce || ciphertext+tag.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, PhotoKeyError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.0
                .encrypt(&nonce, plain)
                .map_err(|_| PhotoKeyError::Encrypt)?,
        );
        Ok(out)
    }

    /// Inverse of [`seal`](Self::seal).
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, PhotoKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(PhotoKeyError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| PhotoKeyError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_photos_open_with_the_key_only() {
        let key = PhotoKey::from_hex(HEX).unwrap();
        let photo = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
        let a = key.seal(&photo).unwrap();
        let b = key.seal(&photo).unwrap();
        assert_ne!(a, b, "fresh nonce per photo");
        assert!(!a.windows(photo.len()).any(|w| w == photo.as_slice()));
        assert_eq!(key.open(&a).unwrap(), photo);
        let other = PhotoKey::from_hex(&HEX.replace("1f", "20")).unwrap();
        assert!(matches!(other.open(&a), Err(PhotoKeyError::Decrypt)));
        let mut tampered = a.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(key.open(&tampered), Err(PhotoKeyError::Decrypt)));
        assert!(matches!(key.open(&a[..5]), Err(PhotoKeyError::Decrypt)));
    }

    #[test]
    fn key_files_must_hold_32_hex_bytes() {
        assert!(PhotoKey::from_hex(&HEX[..62]).is_none());
        assert!(PhotoKey::from_hex(&HEX.replace('0', "g")).is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, format!("{HEX}\n")).unwrap();
        assert!(PhotoKey::load(&p).is_ok());
        std::fs::write(&p, "short").unwrap();
        assert!(matches!(PhotoKey::load(&p), Err(PhotoKeyError::Format(_))));
        assert!(matches!(
            PhotoKey::load(&dir.path().join("missing")),
            Err(PhotoKeyError::Read { .. })
        ));
    }
}
