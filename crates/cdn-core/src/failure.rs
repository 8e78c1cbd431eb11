//! What can go wrong on a hop to the next tier, independent of any vendor.
//!
//! Failures are facts about a connection ("the SYN got no answer"), never status codes: only
//! [`Profile`](crate::Profile) turns a failure into the code a user sees.

use serde::Serialize;
use std::fmt;

/// Why a certificate failed verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertProblem {
    /// `notAfter` is in the past.
    Expired,
    /// Signed by itself, not by a trusted authority.
    SelfSigned,
    /// Valid, but not for the hostname the proxy connected to.
    WrongHost,
    /// Signed by a CA the proxy does not trust (e.g. a CDN's private origin CA seen by
    /// a proxy that is not that CDN).
    UntrustedIssuer,
}

impl CertProblem {
    /// `"expired"`, `"self_signed"`, `"wrong_host"` or `"untrusted_issuer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertProblem::Expired => "expired",
            CertProblem::SelfSigned => "self_signed",
            CertProblem::WrongHost => "wrong_host",
            CertProblem::UntrustedIssuer => "untrusted_issuer",
        }
    }
}

/// The kind of failure on an outbound hop (L1 → L2 or L2 → origin).
///
/// ```
/// use cdn_core::{FailureKind, Profile};
/// let e = Profile::Cloudflare.error_for(FailureKind::Refused);
/// assert_eq!(e.status, 521);
/// assert_eq!(Profile::Nginx.error_for(FailureKind::Refused).status, 502);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Nothing listening, or a firewall REJECT: the kernel answered RST / ICMP port
    /// unreachable (`ECONNREFUSED`).
    Refused,
    /// The SYN went unanswered (firewall DROP, full accept queue) until the connect timeout.
    ConnectTimeout,
    /// No route to host (ICMP host/net unreachable).
    Unreachable,
    /// Connected and sent the request, but no response header before the read timeout.
    ReadTimeout,
    /// Connected, but the request was never acknowledged (a middlebox or an MTU black hole
    /// swallows everything after the handshake) until the ACK timeout: Cloudflare's 522 after
    /// 90 s. A proxy without an ACK timeout sees a [`ReadTimeout`](Self::ReadTimeout) instead.
    AckTimeout,
    /// Connected, but the request could not be written before the write timeout (the peer
    /// stopped reading).
    WriteTimeout,
    /// The response headers were larger than the proxy accepts (Cloudflare 128 KB, nginx
    /// `proxy_buffer_size`).
    HeaderTooLarge,
    /// The peer reset the connection before sending a response header.
    Reset,
    /// The peer closed the connection (FIN) without sending a response.
    ClosedEarly,
    /// The peer sent something that is not HTTP.
    InvalidResponse,
    /// The TLS handshake failed (e.g. plain HTTP on port 443).
    TlsHandshake,
    /// The certificate did not verify while the mode required verification.
    Certificate(CertProblem),
    /// The origin hostname did not resolve.
    Dns,
    /// The next tier answered with an error status (5xx) of its own.
    UpstreamStatus(u16),
}

impl FailureKind {
    /// A short, stable name used in traces and JSON (`"refused"`, `"connect_timeout"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::ConnectTimeout => "connect_timeout",
            FailureKind::Unreachable => "unreachable",
            FailureKind::ReadTimeout => "read_timeout",
            FailureKind::AckTimeout => "ack_timeout",
            FailureKind::WriteTimeout => "write_timeout",
            FailureKind::HeaderTooLarge => "header_too_large",
            FailureKind::Reset => "reset",
            FailureKind::ClosedEarly => "closed_early",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::TlsHandshake => "tls_handshake",
            FailureKind::Certificate(_) => "certificate",
            FailureKind::Dns => "dns",
            FailureKind::UpstreamStatus(_) => "upstream_status",
        }
    }

    /// A name that round-trips through [`FailureKind::from_wire`] (a header between tiers):
    /// [`as_str`](Self::as_str), with the certificate problem and upstream status spelled out.
    ///
    /// ```
    /// use cdn_core::{CertProblem, FailureKind};
    /// for k in cdn_core::profile::ALL_FAILURES {
    ///     assert_eq!(FailureKind::from_wire(&k.wire_name()), Some(k));
    /// }
    /// let k = FailureKind::Certificate(CertProblem::Expired);
    /// assert_eq!(k.wire_name(), "certificate_expired");
    /// ```
    pub fn wire_name(self) -> String {
        match self {
            FailureKind::Certificate(p) => format!("certificate_{}", p.as_str()),
            FailureKind::UpstreamStatus(s) => format!("upstream_status_{s}"),
            k => k.as_str().to_string(),
        }
    }

    /// The failure a [`wire_name`](Self::wire_name) names.
    pub fn from_wire(name: &str) -> Option<FailureKind> {
        if let Some(s) = name.strip_prefix("upstream_status_") {
            return s.parse().ok().map(FailureKind::UpstreamStatus);
        }
        crate::profile::ALL_FAILURES
            .into_iter()
            .find(|k| k.wire_name() == name)
    }

    /// What happened on the hop, in a few words a visitor understands: the mark an error
    /// page puts on the failed hop (`"connection refused"`, `"SYN dropped"`, ...).
    pub fn short(self) -> &'static str {
        match self {
            FailureKind::Refused => "connection refused",
            FailureKind::ConnectTimeout => "SYN dropped: no answer to connect",
            FailureKind::Unreachable => "no route to host",
            FailureKind::ReadTimeout => "timed out waiting for a response",
            FailureKind::AckTimeout => "request never acknowledged",
            FailureKind::WriteTimeout => "timed out sending the request",
            FailureKind::HeaderTooLarge => "response headers too large",
            FailureKind::Reset => "connection reset",
            FailureKind::ClosedEarly => "closed without a response",
            FailureKind::InvalidResponse => "reply was not HTTP",
            FailureKind::TlsHandshake => "TLS handshake failed",
            FailureKind::Certificate(_) => "certificate rejected",
            FailureKind::Dns => "hostname does not resolve",
            FailureKind::UpstreamStatus(_) => "answered with an error",
        }
    }

    /// Whether the failure happened before a connection was established.
    pub fn is_connect_failure(self) -> bool {
        matches!(
            self,
            FailureKind::Refused
                | FailureKind::ConnectTimeout
                | FailureKind::Unreachable
                | FailureKind::Dns
        )
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Refused => f.write_str("connection refused"),
            FailureKind::ConnectTimeout => f.write_str("connect timed out (SYN unanswered)"),
            FailureKind::Unreachable => f.write_str("no route to host"),
            FailureKind::ReadTimeout => f.write_str("no response before the read timeout"),
            FailureKind::AckTimeout => {
                f.write_str("connected, but the request was never acknowledged")
            }
            FailureKind::WriteTimeout => f.write_str("the request could not be written in time"),
            FailureKind::HeaderTooLarge => f.write_str("response headers too large"),
            FailureKind::Reset => f.write_str("connection reset before the response"),
            FailureKind::ClosedEarly => f.write_str("connection closed without a response"),
            FailureKind::InvalidResponse => f.write_str("reply was not HTTP"),
            FailureKind::TlsHandshake => f.write_str("TLS handshake failed"),
            FailureKind::Certificate(p) => write!(f, "certificate rejected ({p:?})"),
            FailureKind::Dns => f.write_str("origin hostname does not resolve"),
            FailureKind::UpstreamStatus(s) => write!(f, "upstream answered {s}"),
        }
    }
}
