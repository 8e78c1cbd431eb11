//! SSL modes (Cloudflare's names) and certificate states: which port and scheme the CDN uses
//! toward the origin, and whether it verifies what it finds there.
//!
//! | mode | edge → origin | certificate checks |
//! |---|---|---|
//! | `off`, `flexible` | HTTP :80 | none |
//! | `full` | same scheme as the visitor | none |
//! | `strict` | same scheme as the visitor | valid, trusted (or the CDN's origin CA), name matches |
//! | `origin_pull_strict` | always HTTPS :443 | as strict |

use crate::failure::{CertProblem, FailureKind};
use serde::{Deserialize, Serialize};

/// The scheme a visitor (or a tier) uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    #[default]
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// How the CDN connects to the origin (Cloudflare's SSL/TLS encryption modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SslMode {
    /// No HTTPS anywhere: HTTP to port 80.
    Off,
    /// Visitors may use HTTPS but the CDN always fetches over HTTP :80.
    Flexible,
    /// Same scheme as the visitor; HTTPS without any certificate check.
    #[default]
    Full,
    /// Same scheme as the visitor; HTTPS with full certificate verification.
    Strict,
    /// Always HTTPS with full verification (authenticated origin pulls).
    OriginPullStrict,
}

/// What the origin presents on port 443.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// Unexpired, publicly trusted, name matches.
    #[default]
    Valid,
    /// Past its `notAfter`.
    Expired,
    /// Self-signed.
    SelfSigned,
    /// Issued for another hostname.
    WrongHost,
    /// Signed by the CDN's own origin CA: trusted by that CDN only (Cloudflare Origin CA).
    OriginCa,
}

/// What listens on the origin's port 443.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpsListener {
    /// A TLS server.
    #[default]
    Tls,
    /// A plain HTTP server (no TLS) on 443: a TLS client's handshake fails.
    Plain,
    /// Nothing: connections to 443 are refused.
    None,
}

/// How one origin fetch is made: port, TLS, verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OriginLeg {
    /// 80 or 443.
    pub port: u16,
    /// Whether the CDN speaks TLS on this connection.
    pub tls: bool,
    /// Whether the CDN verifies the certificate.
    pub verify: bool,
}

impl SslMode {
    /// The port, scheme and verification the CDN uses for a visitor request of `scheme`.
    ///
    /// ```
    /// use cdn_core::{Scheme, SslMode};
    /// assert_eq!(SslMode::Flexible.origin_leg(Scheme::Https).port, 80);
    /// let strict = SslMode::Strict.origin_leg(Scheme::Https);
    /// assert!(strict.tls && strict.verify && strict.port == 443);
    /// ```
    pub fn origin_leg(self, visitor: Scheme) -> OriginLeg {
        const HTTP: OriginLeg = OriginLeg {
            port: 80,
            tls: false,
            verify: false,
        };
        let https = |verify| OriginLeg {
            port: 443,
            tls: true,
            verify,
        };
        match (self, visitor) {
            (SslMode::Off | SslMode::Flexible, _) => HTTP,
            (SslMode::Full | SslMode::Strict, Scheme::Http) => HTTP,
            (SslMode::Full, Scheme::Https) => https(false),
            (SslMode::Strict, Scheme::Https) | (SslMode::OriginPullStrict, _) => https(true),
        }
    }
}

/// Checks a certificate the way a verifying proxy would. `trusts_origin_ca` is true only for
/// the CDN that issued the origin CA certificate.
///
/// ```
/// use cdn_core::{CertState, tls::verify_certificate};
/// assert!(verify_certificate(CertState::OriginCa, true).is_ok());
/// assert!(verify_certificate(CertState::OriginCa, false).is_err());
/// ```
pub fn verify_certificate(cert: CertState, trusts_origin_ca: bool) -> Result<(), CertProblem> {
    match cert {
        CertState::Valid => Ok(()),
        CertState::OriginCa if trusts_origin_ca => Ok(()),
        CertState::OriginCa => Err(CertProblem::UntrustedIssuer),
        CertState::Expired => Err(CertProblem::Expired),
        CertState::SelfSigned => Err(CertProblem::SelfSigned),
        CertState::WrongHost => Err(CertProblem::WrongHost),
    }
}

/// The outcome of a TLS handshake on an accepted connection to port 443.
pub fn handshake(
    leg: OriginLeg,
    listener: HttpsListener,
    cert: CertState,
    trusts_origin_ca: bool,
) -> Result<(), FailureKind> {
    if !leg.tls {
        return Ok(());
    }
    match listener {
        HttpsListener::Tls => {}
        HttpsListener::Plain => return Err(FailureKind::TlsHandshake),
        HttpsListener::None => return Err(FailureKind::Refused),
    }
    if leg.verify {
        verify_certificate(cert, trusts_origin_ca).map_err(FailureKind::Certificate)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_accepts_any_certificate_strict_accepts_only_trusted() {
        let full = SslMode::Full.origin_leg(Scheme::Https);
        let strict = SslMode::Strict.origin_leg(Scheme::Https);
        for cert in [
            CertState::Valid,
            CertState::Expired,
            CertState::SelfSigned,
            CertState::WrongHost,
            CertState::OriginCa,
        ] {
            assert_eq!(handshake(full, HttpsListener::Tls, cert, false), Ok(()));
        }
        assert_eq!(
            handshake(strict, HttpsListener::Tls, CertState::Expired, true),
            Err(FailureKind::Certificate(CertProblem::Expired))
        );
        assert_eq!(
            handshake(strict, HttpsListener::Tls, CertState::OriginCa, true),
            Ok(())
        );
    }

    #[test]
    fn plain_http_on_443_fails_the_handshake() {
        let leg = SslMode::Full.origin_leg(Scheme::Https);
        assert_eq!(
            handshake(leg, HttpsListener::Plain, CertState::Valid, true),
            Err(FailureKind::TlsHandshake)
        );
    }

    #[test]
    fn origin_pull_strict_uses_https_even_for_http_visitors() {
        let leg = SslMode::OriginPullStrict.origin_leg(Scheme::Http);
        assert_eq!((leg.port, leg.tls, leg.verify), (443, true, true));
    }
}
