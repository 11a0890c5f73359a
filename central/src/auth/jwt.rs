//! RS256 access tokens.
//!
//! The signing key is an RSA key in a PEM file, created on first start;
//! every central instance uses the same file. Verification accepts RS256
//! only (so `alg: none` and HS256 tokens signed with the public key are
//! refused), checks issuer, audience and expiry.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "atrium-central";
const AUDIENCE: &str = "atrium-api";

/// Token contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub role: String,
    /// Session: the refresh-token family this token was issued in. Logging
    /// out (or a reused refresh token) revokes the family and with it every
    /// access token of the session.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and verifying keys.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key (PEM), for other services.
    pub public_pem: String,
    ttl_s: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ttl_s", &self.ttl_s)
            .finish_non_exhaustive()
    }
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("JWT key {path}: {message}")]
    Key { path: String, message: String },
}

impl Keys {
    /// Loads the key, creating a 2048-bit one (mode 0600) if the file does
    /// not exist.
    pub fn load_or_create(path: &Path, ttl_s: u64) -> Result<Self, KeyError> {
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
        let err = |message: String| KeyError::Key {
            path: path.display().to_string(),
            message,
        };
        let private = if path.exists() {
            let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| err(format!("not a PKCS#8 RSA key: {e}")))?
        } else {
            let key = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048)
                .map_err(|e| err(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| err(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            write_private(path, pem.as_bytes()).map_err(|e| err(e.to_string()))?;
            tracing::info!(path = %path.display(), "created a new JWT signing key");
            key
        };
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| err(e.to_string()))?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes())
                .map_err(|e| err(e.to_string()))?,
            decoding: DecodingKey::from_rsa_pem(public_pem.as_bytes())
                .map_err(|e| err(e.to_string()))?,
            public_pem,
            ttl_s: ttl_s as i64,
        })
    }

    /// Seconds an access token lives.
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    /// Issues a token for a user.
    pub fn issue(
        &self,
        user_id: &str,
        username: &str,
        role: &str,
        session: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            name: username.to_owned(),
            role: role.to_owned(),
            sid: session.to_owned(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl_s,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding)
    }

    /// Verifies a token.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys(dir: &Path) -> Keys {
        Keys::load_or_create(&dir.join("jwt.pem"), 3600).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn issued_tokens_verify_and_the_key_file_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let k = keys(dir.path());
        let t = k.issue("u1", "alice", "admin", "s1").unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.name.as_str(), c.role.as_str()),
            ("u1", "alice", "admin")
        );
        // A second instance with the same file accepts the token.
        assert!(keys(dir.path()).verify(&t).is_ok());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("jwt.pem"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn forged_expired_unsigned_and_hs256_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = keys(dir.path());
        let good = k.issue("u1", "alice", "admin", "s1").unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"sub":"u1","name":"alice","role":"super_admin","sid":"s1","iss":ISSUER,"aud":AUDIENCE,"iat":now,"exp":now+3600});
        // Payload swapped (role raised), original signature kept.
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert!(k.verify(&forged).is_err());
        // alg=none.
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
            b64(&claims)
        );
        assert!(k.verify(&none).is_err());
        // HS256 signed with the public key as the secret.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(k.public_pem.as_bytes()),
        )
        .unwrap();
        assert!(k.verify(&hs).is_err());
        // Expired.
        let other = Keys::load_or_create(&dir.path().join("short.pem"), 0).unwrap();
        let mut c: Claims = serde_json::from_value(claims.clone()).unwrap();
        c.exp = now - 60;
        let expired =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &c, &other.encoding).unwrap();
        assert!(matches!(
            other.verify(&expired).unwrap_err().kind(),
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
        ));
        // Another key's token.
        let stranger = Keys::load_or_create(&dir.path().join("other.pem"), 3600).unwrap();
        assert!(
            k.verify(&stranger.issue("u1", "alice", "admin", "s1").unwrap())
                .is_err()
        );
    }
}
