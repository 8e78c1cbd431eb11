//! Certificates generated at start with rcgen, and the rustls configurations that use them.
//!
//! | name | what it is | who trusts it |
//! |---|---|---|
//! | public root CA | stands in for the public web PKI | every verifying proxy |
//! | origin CA | a CDN's private CA (Cloudflare Origin CA) | only a proxy told to trust it |
//! | `valid` leaf | public-CA-signed, right name, current | everyone |
//! | `expired` leaf | public-CA-signed, `notAfter` 2001-01-01 | nobody who verifies |
//! | `self_signed` leaf | signed by its own key | nobody who verifies |
//! | `wrong_host` leaf | public-CA-signed for `wrong-host.invalid` | nobody who verifies |
//! | `origin_ca` leaf | signed by the origin CA | the CDN that trusts its origin CA |
//!
//! [`Certificates::client_config`] builds what a proxy uses: with `verify = false` any
//! certificate passes (Cloudflare "full"; the handshake signature is still checked); with
//! `verify = true` webpki checks the chain against the public root (plus the origin CA when
//! trusted), the validity period and the name, exactly like
//! [`cdn_core::tls::verify_certificate`] says. [`cert_problem`] turns the resulting rustls
//! error back into a [`CertProblem`].

use crate::error::NetError;
use cdn_core::{CertProblem, CertState};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use std::sync::Arc;

/// The hostname the `wrong_host` certificate is issued for.
pub const WRONG_HOST: &str = "wrong-host.invalid";

const STATES: [CertState; 5] = [
    CertState::Valid,
    CertState::Expired,
    CertState::SelfSigned,
    CertState::WrongHost,
    CertState::OriginCa,
];

fn index(state: CertState) -> usize {
    match state {
        CertState::Valid => 0,
        CertState::Expired => 1,
        CertState::SelfSigned => 2,
        CertState::WrongHost => 3,
        CertState::OriginCa => 4,
    }
}

/// The rustls crypto provider used everywhere in this crate (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Two CAs and one leaf certificate per [`CertState`], for one hostname.
///
/// ```
/// use cdn_core::CertState;
/// let certs = cdn_net::Certificates::generate("www.example.com").unwrap();
/// let _server = certs.server_config(CertState::Expired);
/// let _strict = certs.client_config(true, false);
/// ```
pub struct Certificates {
    hostname: String,
    public_root: CertificateDer<'static>,
    origin_ca_root: CertificateDer<'static>,
    server_configs: Vec<Arc<ServerConfig>>,
    leaves: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    /// Client configurations, built once per (verify, trust_origin_ca).
    client_configs: std::sync::OnceLock<[Arc<ClientConfig>; 4]>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Generates both CAs and the five leaves for `hostname` (ECDSA P-256; a few
    /// milliseconds).
    pub fn generate(hostname: &str) -> Result<Certificates, NetError> {
        let err = |e: rcgen::Error| NetError::Certificate {
            hostname: hostname.to_string(),
            message: e.to_string(),
        };
        let public_ca = ca("cdn-net test public root CA").map_err(err)?;
        let origin_ca = ca("cdn-net origin CA (trusted by the CDN only)").map_err(err)?;
        let mut leaves = Vec::new();
        let mut server_configs = Vec::new();
        let provider = provider();
        for state in STATES {
            let (name, issuer): (&str, Option<&Issuer<'_, KeyPair>>) = match state {
                CertState::Valid | CertState::Expired => (hostname, Some(&public_ca)),
                CertState::SelfSigned => (hostname, None),
                CertState::WrongHost => (WRONG_HOST, Some(&public_ca)),
                CertState::OriginCa => (hostname, Some(&origin_ca)),
            };
            let mut params = CertificateParams::new(vec![name.to_string()]).map_err(err)?;
            params.distinguished_name = dn(name);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            if state == CertState::Expired {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
            let key = KeyPair::generate().map_err(err)?;
            let cert = match issuer {
                Some(issuer) => {
                    params.use_authority_key_identifier_extension = true;
                    params.signed_by(&key, issuer)
                }
                None => params.self_signed(&key),
            }
            .map_err(err)?;
            let der = cert.der().clone();
            let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            let config = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .and_then(|b| {
                    b.with_no_client_auth()
                        .with_single_cert(vec![der.clone()], key_der)
                })
                .map_err(|e| NetError::Certificate {
                    hostname: hostname.to_string(),
                    message: e.to_string(),
                })?;
            leaves.push(der);
            server_configs.push(Arc::new(config));
        }
        Ok(Certificates {
            hostname: hostname.to_string(),
            public_root: public_ca.der().clone(),
            origin_ca_root: origin_ca.der().clone(),
            server_configs,
            leaves,
            provider,
            client_configs: std::sync::OnceLock::new(),
        })
    }

    /// The hostname the leaves (except `wrong_host`) are issued for.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The public root CA certificate (DER).
    pub fn public_root(&self) -> &CertificateDer<'static> {
        &self.public_root
    }

    /// The origin CA certificate (DER).
    pub fn origin_ca_root(&self) -> &CertificateDer<'static> {
        &self.origin_ca_root
    }

    /// The leaf certificate presented for `state` (DER).
    pub fn leaf(&self, state: CertState) -> &CertificateDer<'static> {
        &self.leaves[index(state)]
    }

    /// A TLS server configuration presenting the `state` certificate.
    pub fn server_config(&self, state: CertState) -> Arc<ServerConfig> {
        self.server_configs[index(state)].clone()
    }

    /// A TLS client configuration for a proxy. `verify = false` accepts any certificate
    /// (Cloudflare "full"); `verify = true` verifies chain, validity and name against the
    /// public root, plus the origin CA when `trust_origin_ca`.
    pub fn client_config(&self, verify: bool, trust_origin_ca: bool) -> Arc<ClientConfig> {
        let all = self.client_configs.get_or_init(|| {
            [(false, false), (false, true), (true, false), (true, true)]
                .map(|(v, t)| self.build_client_config(v, t))
        });
        all[usize::from(verify) * 2 + usize::from(trust_origin_ca)].clone()
    }

    /// A TLS client configuration for a real `https://` upstream: with `verify`, webpki
    /// checks chain, validity and name against `roots` (the scenario's `upstream_ca`, the
    /// proxy's `--upstream-ca`) and nothing else a real server could have a certificate
    /// from; without, any certificate passes, as with
    /// [`client_config`](Certificates::client_config).
    ///
    /// ```
    /// let certs = cdn_net::Certificates::generate("localhost").unwrap();
    /// // A strict CDN that was given no CA trusts no real server's certificate.
    /// let _strict = certs.upstream_client_config(true, &[]);
    /// ```
    pub fn upstream_client_config(
        &self,
        verify: bool,
        roots: &[CertificateDer<'static>],
    ) -> Arc<ClientConfig> {
        if !verify {
            return self.client_config(false, false);
        }
        let mut store = RootCertStore::empty();
        // webpki wants at least one anchor: the run's own test CA, which signs nothing a
        // real server presents, so with no `roots` every real certificate is untrusted.
        store
            .add(self.public_root.clone())
            .expect("a generated CA certificate parses");
        // A CA the user gave that webpki cannot use is caught by `load_ca_file`.
        let _ = store.add_parsable_certificates(roots.iter().cloned());
        self.client_config_with(store)
    }

    fn client_config_with(&self, roots: RootCertStore) -> Arc<ClientConfig> {
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .expect("a non-empty root store builds a verifier");
        self.client_config_verified_by(Arc::new(ClassifyingVerifier { inner }))
    }

    fn build_client_config(&self, verify: bool, trust_origin_ca: bool) -> Arc<ClientConfig> {
        let verifier: Arc<dyn ServerCertVerifier> = if verify {
            let mut roots = RootCertStore::empty();
            roots
                .add(self.public_root.clone())
                .expect("a generated CA certificate parses");
            if trust_origin_ca {
                roots
                    .add(self.origin_ca_root.clone())
                    .expect("a generated CA certificate parses");
            }
            return self.client_config_with(roots);
        } else {
            Arc::new(AcceptAnyCertificate {
                provider: self.provider.clone(),
            })
        };
        self.client_config_verified_by(verifier)
    }

    fn client_config_verified_by(
        &self,
        verifier: Arc<dyn ServerCertVerifier>,
    ) -> Arc<ClientConfig> {
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Every new connection verifies the certificate, as the model says: no resumption.
        let mut config = config;
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

/// Reads the CA certificates of a PEM file (`upstream_ca`, `--upstream-ca`): every
/// `CERTIFICATE` block, each one a trust anchor webpki accepts.
pub fn load_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    use rustls::pki_types::pem::PemObject;
    let bad = |message: String| {
        NetError::Config(cdn_core::ConfigError::new(
            "origin.upstream_ca",
            format!("{}: {message}", path.display()),
        ))
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no \"BEGIN CERTIFICATE\" block".into()));
    }
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = RootCertStore::empty().add(c.clone()) {
            return Err(bad(format!(
                "certificate {} is not a usable CA: {e}",
                i + 1
            )));
        }
    }
    Ok(certs)
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "cdn-net");
    dn
}

fn ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = dn(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}

/// The certificate problem a rustls error reports, if it is one.
///
/// webpki reports a self-signed certificate as "unknown issuer"; the verifier built by
/// [`Certificates::client_config`] tells the two apart by comparing the leaf's issuer and
/// subject names.
pub fn cert_problem(error: &rustls::Error) -> Option<CertProblem> {
    let rustls::Error::InvalidCertificate(e) = error else {
        return None;
    };
    Some(match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertProblem::Expired,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertProblem::WrongHost
        }
        CertificateError::UnknownIssuer => CertProblem::UntrustedIssuer,
        CertificateError::Other(o) if o.0.downcast_ref::<SelfSignedCertificate>().is_some() => {
            CertProblem::SelfSigned
        }
        _ => return None,
    })
}

/// [`cert_problem`] for the `io::Error` tokio-rustls returns from a failed handshake.
pub fn cert_problem_io(error: &std::io::Error) -> Option<CertProblem> {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .and_then(cert_problem)
}

/// Marker carried in `CertificateError::Other` for a self-signed leaf.
#[derive(Debug, thiserror::Error)]
#[error("self-signed certificate")]
struct SelfSignedCertificate;

/// webpki, plus telling "self-signed" apart from "unknown issuer".
#[derive(Debug)]
struct ClassifyingVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ClassifyingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    if der::self_issued(end_entity) =>
                {
                    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                        Arc::new(SelfSignedCertificate),
                    )))
                }
                e => e,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any certificate (expired, self-signed, wrong name, unknown issuer), as a proxy in
/// Cloudflare's "full" mode does; the handshake signature is still verified.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Just enough DER to compare a certificate's issuer and subject names.
mod der {
    /// One TLV: its tag, its whole encoding, its contents, and what follows it.
    struct Tlv<'a> {
        tag: u8,
        whole: &'a [u8],
        contents: &'a [u8],
        rest: &'a [u8],
    }

    fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        Some(Tlv {
            tag,
            whole: &input[..header + len],
            contents: &rest[..len],
            rest: &rest[len..],
        })
    }

    /// Whether the certificate's issuer name equals its subject name.
    pub(super) fn self_issued(cert: &[u8]) -> bool {
        (|| {
            let certificate = tlv(cert)?.contents;
            let mut tbs = tlv(certificate)?.contents;
            // [0] version (optional), serial, signature algorithm, issuer, validity, subject.
            let mut fields = Vec::new();
            while !tbs.is_empty() && fields.len() < 6 {
                let field = tlv(tbs)?;
                fields.push((field.tag, field.whole));
                tbs = field.rest;
            }
            let skip = usize::from(fields.first()?.0 == 0xa0);
            let issuer = fields.get(skip + 2)?.1;
            let subject = fields.get(skip + 4)?.1;
            Some(issuer == subject)
        })()
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_self_signed_leaf_is_self_issued() {
        let c = Certificates::generate("www.example.com").unwrap();
        for s in STATES {
            assert_eq!(
                der::self_issued(c.leaf(s)),
                s == CertState::SelfSigned,
                "{s:?}"
            );
        }
        assert!(der::self_issued(c.public_root()));
        assert!(!der::self_issued(b"\x30\x03garbage"));
    }

    #[test]
    fn a_hostname_that_is_not_a_dns_name_is_an_error() {
        assert!(Certificates::generate("bücher.example").is_err());
    }
}
