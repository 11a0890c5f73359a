//! A site's certificate authority: issues the broker's server certificate
//! and one client certificate per camera, device or central instance.
//!
//! The client certificate's common name is the identity the broker's ACL
//! sees (`use_identity_as_username`), so every identity is validated before
//! a certificate is issued: a camera or device id (never one of the names
//! reserved for central), or a central identity. Keys are ECDSA P-256:
//! small, fast on ARM edge boxes, and supported by every TLS stack we meet.
//!
//! Revocation: the CA signs a certificate revocation list ([`SiteCa::crl`])
//! that the broker loads (`crlfile`); a revoked certificate cannot connect.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("subject alternative name {0:?} is neither a DNS name nor an IP address")]
    BadSan(String),
    #[error("cannot issue a certificate for {0}")]
    BadIdentity(#[from] atrium_proto::IdError),
    #[error("{0} is not a PEM certificate")]
    NotACertificate(String),
}

/// Who a client certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A central instance (`central`, `central-…`): reads every camera.
    Central(atrium_proto::CentralId),
    /// A camera's edge agent or an IoT device: only its own topics.
    Edge(atrium_proto::CameraId),
}

impl Identity {
    /// Classifies and validates a certificate common name.
    pub fn parse(name: &str) -> Result<Self, atrium_proto::IdError> {
        if atrium_proto::ids::is_reserved(name) {
            atrium_proto::CentralId::new(name).map(Self::Central)
        } else {
            atrium_proto::CameraId::new(name).map(Self::Edge)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Central(c) => c.as_str(),
            Self::Edge(e) => e.as_str(),
        }
    }
}

/// A revoked certificate, as the CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The certificate's serial number (big-endian bytes).
    pub serial: Vec<u8>,
    /// When it was revoked (Unix seconds).
    pub at_unix: i64,
}

/// The serial number and common name of a PEM certificate.
pub fn certificate_id(cert_pem: &str) -> Result<(Vec<u8>, String), PkiError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let bad = || PkiError::NotACertificate(cert_pem.chars().take(40).collect());
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|_| bad())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| bad())?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        // No readable common name: "", which no identity check accepts.
        .unwrap_or_default()
        .to_owned();
    Ok((cert.raw_serial().to_vec(), cn))
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority held in memory.
#[derive(Debug)]
pub struct SiteCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl SiteCa {
    /// Creates a new self-signed CA named `Atrium <name> CA`.
    pub fn generate(name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&format!("Atrium {name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA saved earlier with [`SiteCa::cert_pem`] and [`SiteCa::key_pem`].
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// The CA's private key (PEM): keep it secret, off the edge boxes.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The CA certificate (PEM), to install on every client and the broker.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for the broker, valid for the given DNS names
    /// and IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(names.first().copied().unwrap_or("broker"));
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate whose common name is `identity`, which must be
    /// a valid [`Identity`].
    pub fn issue_client(&self, identity: &str) -> Result<Issued, PkiError> {
        let identity = Identity::parse(identity)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(identity.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl SiteCa {
    /// A certificate revocation list (PEM) naming `revoked`, valid for ten
    /// years (it is re-signed on every revocation; an expired CRL would
    /// lock every client out). `number` must grow with each new list.
    pub fn crl(&self, revoked: &[Revoked], number: u64) -> Result<String, PkiError> {
        use rcgen::{
            CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber,
        };
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(3650),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: time::OffsetDateTime::from_unix_timestamp(r.at_unix)
                        .unwrap_or(now),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn san(name: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    name.to_owned()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|_| PkiError::BadSan(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_ca_loads_and_keeps_issuing() {
        let ca = SiteCa::generate("hq").unwrap();
        let again = SiteCa::load(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem());
        let issued = again.issue_client("cam-1").unwrap();
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(SiteCa::load(ca.cert_pem(), "not a key").is_err());
    }

    #[test]
    fn identities_are_validated_before_issuing() {
        let ca = SiteCa::generate("hq").unwrap();
        for ok in ["lobby-1", "central", "central-2", "meter_7"] {
            let issued = ca.issue_client(ok).unwrap();
            let (serial, cn) = certificate_id(&issued.cert_pem).unwrap();
            assert_eq!(cn, ok);
            assert!(!serial.is_empty());
        }
        for bad in ["Lobby", "a/b", "+", "#", "", "central lobby"] {
            assert!(
                matches!(ca.issue_client(bad), Err(PkiError::BadIdentity(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Identity::parse("central-7"),
            Ok(Identity::Central(_))
        ));
        assert!(matches!(Identity::parse("lobby"), Ok(Identity::Edge(_))));
    }

    #[test]
    fn a_crl_lists_the_revoked_serials() {
        let ca = SiteCa::generate("hq").unwrap();
        let cam = ca.issue_client("cam-1").unwrap();
        let (serial, _) = certificate_id(&cam.cert_pem).unwrap();
        let pem = ca
            .crl(
                &[Revoked {
                    serial: serial.clone(),
                    at_unix: 1_800_000_000,
                }],
                7,
            )
            .unwrap();
        use rustls_pki_types::CertificateRevocationListDer;
        use rustls_pki_types::pem::PemObject;
        let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
        let listed: Vec<Vec<u8>> = crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial().to_vec())
            .collect();
        assert_eq!(listed, vec![serial]);
        assert!(certificate_id("not pem").is_err());
    }
}
