//! The one place a [`FailureKind`] becomes a status code: each vendor's codes and wording.

use super::Profile;
use crate::failure::{CertProblem, FailureKind};
use serde::Serialize;

/// A response a proxy generates itself: the code and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GeneratedError {
    /// The HTTP status code.
    pub status: u16,
    /// The vendor's wording (error page title or error-log line).
    pub reason: &'static str,
}

/// What nginx answers when its upstream's reply is not HTTP: no status code at all. nginx
/// relays the bytes as an HTTP/0.9 response — no status line, no headers — and writes `009`
/// as the status in its access log; the simulator reports that as status 9. Measured against
/// nginx 1.22 from apt by `crates/cdn-net/tests/nginx_upstream.rs`; the code path is
/// `ngx_http_proxy_process_status_line` in `src/http/modules/ngx_http_proxy_module.c`
/// (`r->http_version = NGX_HTTP_VERSION_9; u->state->status = NGX_HTTP_OK;`).
pub const HTTP_09_RELAY: u16 = 9;

/// The reason nginx gives (its error log, when the response is not cached) for
/// [`HTTP_09_RELAY`].
pub const HTTP_09_REASON: &str = "upstream sent no valid HTTP/1.0 header: relayed as HTTP/0.9 \
     (no status line; access log status 009)";

/// Every failure kind a profile maps, in table order (also used to recognise reasons coming
/// back over the wire).
pub const ALL_FAILURES: [FailureKind; 16] = [
    FailureKind::Refused,
    FailureKind::ConnectTimeout,
    FailureKind::Unreachable,
    FailureKind::ReadTimeout,
    FailureKind::AckTimeout,
    FailureKind::WriteTimeout,
    FailureKind::Reset,
    FailureKind::ClosedEarly,
    FailureKind::InvalidResponse,
    FailureKind::HeaderTooLarge,
    FailureKind::TlsHandshake,
    FailureKind::Certificate(CertProblem::Expired),
    FailureKind::Certificate(CertProblem::SelfSigned),
    FailureKind::Certificate(CertProblem::WrongHost),
    FailureKind::Certificate(CertProblem::UntrustedIssuer),
    FailureKind::Dns,
];

impl Profile {
    /// [`Profile::error_for`], with a scenario's `cert_error_status` (where the vendor does
    /// not document the code for a certificate that fails verification) applied: the one
    /// place a failure becomes the code a tier generates.
    ///
    /// ```
    /// use cdn_core::{CertProblem, FailureKind, Profile};
    /// let cert = FailureKind::Certificate(CertProblem::Expired);
    /// assert_eq!(Profile::Alibaba.error_with(cert, None).status, 502);
    /// assert_eq!(Profile::Alibaba.error_with(cert, Some(503)).status, 503);
    /// assert_eq!(Profile::Alibaba.error_with(FailureKind::Refused, Some(503)).status, 502);
    /// ```
    pub fn error_with(self, kind: FailureKind, cert_error_status: Option<u16>) -> GeneratedError {
        let mut e = self.error_for(kind);
        if let (FailureKind::Certificate(_), Some(status)) = (kind, cert_error_status) {
            e.status = status;
        }
        e
    }

    /// The response a tier of this vendor generates when its outbound hop fails with `kind`.
    /// An upstream's own 5xx is passed through unchanged.
    ///
    /// ```
    /// use cdn_core::{FailureKind, Profile};
    /// assert_eq!(Profile::Cloudflare.error_for(FailureKind::AckTimeout).status, 522);
    /// assert_eq!(Profile::Cloudflare.error_for(FailureKind::HeaderTooLarge).status, 520);
    /// assert_eq!(Profile::Nginx.error_for(FailureKind::HeaderTooLarge).status, 502);
    /// assert_eq!(Profile::Nginx.error_for(FailureKind::InvalidResponse).status, 9); // HTTP/0.9
    /// assert_eq!(Profile::Cloudfront.error_for(FailureKind::Unreachable).status, 504);
    /// ```
    pub fn error_for(self, kind: FailureKind) -> GeneratedError {
        use FailureKind as F;
        let g = |status, reason| GeneratedError { status, reason };
        if let F::UpstreamStatus(s) = kind {
            return g(s, "passed through from upstream");
        }
        match self {
            Profile::Cloudflare => match kind {
                F::Refused => g(521, "Web server is down"),
                F::ConnectTimeout | F::AckTimeout => g(522, "Connection timed out"),
                F::Unreachable => g(523, "Origin is unreachable"),
                F::ReadTimeout | F::WriteTimeout => g(524, "A timeout occurred"),
                F::Reset | F::ClosedEarly | F::InvalidResponse | F::HeaderTooLarge => {
                    g(520, "Web server is returning an unknown error")
                }
                F::TlsHandshake => g(525, "SSL handshake failed"),
                F::Certificate(_) => g(526, "Invalid SSL certificate"),
                F::Dns => g(530, "Origin DNS error (error 1016)"),
                F::UpstreamStatus(_) => unreachable!("handled above"),
            },
            Profile::Nginx if kind == F::InvalidResponse => g(HTTP_09_RELAY, HTTP_09_REASON),
            // "If CloudFront can't access your custom origin server because it isn't publicly
            // available on the internet, CloudFront returns an HTTP 504 error."
            // (docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-504-gateway-timeout.html)
            Profile::Cloudfront if kind == F::Unreachable => g(
                504,
                "CloudFront can't access the origin: it isn't reachable (no route to host)",
            ),
            Profile::Nginx | Profile::Alibaba | Profile::Cloudfront => nginx_like(kind),
            // RFC 9110 §15.6.3 and §15.6.5.
            Profile::Rfc9111 => match kind {
                F::ReadTimeout | F::ConnectTimeout | F::AckTimeout => g(504, "Gateway Timeout"),
                _ => g(502, "Bad Gateway"),
            },
            Profile::Fastly => g(503, fastly_reason(kind)),
            Profile::Varnish => g(503, "Backend fetch failed"),
        }
    }
}

/// nginx's error-log lines (Alibaba's Tengine and CloudFront answer the same codes).
fn nginx_like(kind: FailureKind) -> GeneratedError {
    use FailureKind as F;
    let g = |status, reason| GeneratedError { status, reason };
    match kind {
        F::Refused => g(
            502,
            "connect() failed (111: Connection refused) while connecting to upstream",
        ),
        F::ConnectTimeout => g(
            504,
            "upstream timed out (110: Connection timed out) while connecting to upstream",
        ),
        F::Unreachable => g(
            502,
            "connect() failed (113: No route to host) while connecting to upstream",
        ),
        // Without an ACK timeout of its own, an unacknowledged request ends at the read
        // timeout, with the read timeout's words.
        F::ReadTimeout | F::AckTimeout => g(
            504,
            "upstream timed out (110: Connection timed out) while reading response header from upstream",
        ),
        F::WriteTimeout => g(
            504,
            "upstream timed out (110: Connection timed out) while sending request to upstream",
        ),
        F::Reset => g(
            502,
            "recv() failed (104: Connection reset by peer) while reading response header from upstream",
        ),
        F::ClosedEarly => g(
            502,
            "upstream prematurely closed connection while reading response header from upstream",
        ),
        F::InvalidResponse => g(
            502,
            "upstream sent no valid HTTP/1.0 header while reading response header from upstream",
        ),
        F::HeaderTooLarge => g(
            502,
            "upstream sent too big header while reading response header from upstream",
        ),
        F::TlsHandshake => g(
            502,
            "SSL_do_handshake() failed while SSL handshaking to upstream",
        ),
        F::Certificate(p) => g(502, cert_reason(p)),
        F::Dns => g(502, "upstream host could not be resolved (3: Host not found)"),
        F::UpstreamStatus(s) => g(s, "passed through from upstream"),
    }
}

/// The static reason text equal to `text`, if it is one a profile (or `extra`) generates:
/// a tier relaying another tier's error keeps its wording.
pub fn known_reason(text: &str, extra: &[&'static str]) -> Option<&'static str> {
    super::ALL_PROFILES
        .iter()
        .flat_map(|p| ALL_FAILURES.iter().map(move |k| p.error_for(*k).reason))
        .chain(extra.iter().copied())
        .find(|r| *r == text)
}

fn cert_reason(p: CertProblem) -> &'static str {
    match p {
        CertProblem::Expired => {
            "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream"
        }
        CertProblem::SelfSigned => {
            "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream"
        }
        CertProblem::WrongHost => {
            "upstream SSL certificate does not match the upstream host name while SSL handshaking to upstream"
        }
        CertProblem::UntrustedIssuer => {
            "upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream"
        }
    }
}

fn fastly_reason(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ConnectTimeout => "connection timed out",
        FailureKind::ReadTimeout | FailureKind::AckTimeout => "first byte timeout",
        FailureKind::Certificate(_) => "SSL certificate validation failed",
        FailureKind::TlsHandshake => "SSL handshake error",
        _ => "Backend unavailable, connection failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ALL_PROFILES;

    #[test]
    fn upstream_status_is_passed_through_by_every_profile() {
        for p in ALL_PROFILES {
            for s in [502, 503, 504] {
                assert_eq!(p.error_for(FailureKind::UpstreamStatus(s)).status, s);
            }
        }
    }

    #[test]
    fn cloudflare_splits_timeouts_by_what_was_waited_for() {
        let code = |k| Profile::Cloudflare.error_for(k).status;
        assert_eq!(code(FailureKind::ConnectTimeout), 522);
        assert_eq!(code(FailureKind::AckTimeout), 522);
        assert_eq!(code(FailureKind::ReadTimeout), 524);
        assert_eq!(code(FailureKind::WriteTimeout), 524);
    }

    #[test]
    fn only_nginx_relays_garbage_as_http_09() {
        for p in ALL_PROFILES {
            let status = p.error_for(FailureKind::InvalidResponse).status;
            assert_eq!(status == HTTP_09_RELAY, p == Profile::Nginx, "{p}");
        }
    }
}
