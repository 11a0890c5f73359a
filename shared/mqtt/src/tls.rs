//! rustls client configuration for mutual TLS.
//!
//! We build the rustls `ClientConfig` ourselves (instead of rumqttc's
//! `TlsConfiguration::Simple`) to pin the `ring` provider, which avoids
//! pulling aws-lc (a C build that is slow on small edge boxes), and to give
//! errors that name the file that is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where a client's TLS material lives on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) that signed the broker's certificate (PEM).
    pub ca: PathBuf,
    /// This client's certificate chain (PEM).
    pub cert: PathBuf,
    /// This client's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path} holds no usable PEM data: {detail}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("CA certificate in {path} rejected: {source}")]
    Ca {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("client certificate {cert} and key {key} rejected: {source}")]
    ClientAuth {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS protocol versions: {0}")]
    Versions(#[source] rustls::Error),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            detail: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

impl TlsFiles {
    /// Loads the files and builds a client configuration that trusts only the
    /// given CA and presents the client certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let ca = certs("CA certificate", &self.ca)?;
        let chain = certs("client certificate", &self.cert)?;
        let key_pem = read("private key", &self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            what: "private key",
            path: self.key.clone(),
            detail: e.to_string(),
        })?;

        let mut roots = rustls::RootCertStore::empty();
        for cert in ca {
            roots.add(cert).map_err(|source| TlsError::Ca {
                path: self.ca.clone(),
                source,
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Versions)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|source| TlsError::ClientAuth {
                cert: self.cert.clone(),
                key: self.key.clone(),
                source,
            })?;
        Ok(Arc::new(config))
    }

    /// The rumqttc transport for these files.
    pub fn transport(&self) -> Result<rumqttc::Transport, TlsError> {
        Ok(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
            self.client_config()?,
        )))
    }
}
