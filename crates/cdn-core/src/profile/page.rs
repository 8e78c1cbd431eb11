//! What an error page says: the facts a tier knows about a response it generated — the
//! code and its reason phrase, which tier generated it, which hop failed and how — and the
//! advice that goes with them. Drivers render these facts as the vendor's page (HTML) or as
//! JSON; nothing here knows about markup, sockets or clocks.

use super::Profile;
use crate::failure::FailureKind;
use crate::message::{Response, Tier};
use serde::Serialize;

/// The reason phrase for `status`: the vendor's for the codes only a CDN uses (Cloudflare's
/// 52x and 530), the standard one (RFC 9110, as the `http` crate spells it) otherwise.
///
/// ```
/// use cdn_core::profile::reason_phrase;
/// assert_eq!(reason_phrase(521), Some("Web Server Is Down"));
/// assert_eq!(reason_phrase(502), Some("Bad Gateway"));
/// assert_eq!(reason_phrase(599), None);
/// ```
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    // Cloudflare's "5xx errors" pages title each code so; the status line carries the title.
    let vendor = match status {
        520 => Some("Web Server Returned an Unknown Error"),
        521 => Some("Web Server Is Down"),
        522 => Some("Connection Timed Out"),
        523 => Some("Origin Is Unreachable"),
        524 => Some("A Timeout Occurred"),
        525 => Some("SSL Handshake Failed"),
        526 => Some("Invalid SSL Certificate"),
        527 => Some("Railgun Error"),
        530 => Some("Origin DNS Error"),
        _ => None,
    };
    vendor.or_else(|| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
    })
}

/// The reason of the `503` a proxy answers to a request still running when its shutdown
/// grace period ends: no hop failed, the node itself stopped.
pub const SHUTTING_DOWN: &str = "proxy shutting down";

/// One place on the way from the browser to the origin, as an error page draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The visitor's browser (or curl).
    Browser,
    /// An edge (L1) of the CDN.
    Edge,
    /// A parent (L2, shield) of the CDN.
    Shield,
    /// The origin server ("Host" on Cloudflare's page).
    Host,
}

impl Place {
    fn of(tier: Tier) -> Place {
        match tier {
            Tier::L1 => Place::Edge,
            Tier::L2 => Place::Shield,
            Tier::Origin => Place::Host,
        }
    }

    fn next(self) -> Place {
        match self {
            Place::Browser => Place::Edge,
            Place::Edge => Place::Shield,
            Place::Shield | Place::Host => Place::Host,
        }
    }
}

/// The hop that failed: from the tier that generated the response to the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FailedHop {
    /// Where the connection started.
    pub from: Place,
    /// Where it was going.
    pub to: Place,
    /// How it failed, when the generating tier knew (`None`: e.g. a `must-revalidate`
    /// object that could not be revalidated, whose failure was not recorded).
    pub failure: Option<FailureKind>,
}

/// What a visitor and a site owner are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// "What happened?"
    pub what_happened: &'static str,
    /// "What can I do?" — as a visitor.
    pub visitor: &'static str,
    /// "What can I do?" — as the site's owner.
    pub owner: &'static str,
}

/// Everything an error page states, for one generated response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorFacts {
    /// The vendor whose page this is.
    pub profile: Profile,
    /// The status code.
    pub status: u16,
    /// The reason phrase of the status line ([`reason_phrase`]).
    pub phrase: &'static str,
    /// The vendor's wording for this failure (page title, error-log line).
    pub title: &'static str,
    /// The tier that generated the response.
    pub generated_by: Tier,
    /// The hop that failed.
    pub hop: FailedHop,
    /// What to tell the reader.
    pub advice: Advice,
}

impl ErrorFacts {
    /// The facts of `resp` under `profile`, if it is an error a CDN tier generated (an
    /// origin's own response is relayed as it is, body and all).
    ///
    /// ```
    /// use cdn_core::profile::{ErrorFacts, Place};
    /// use cdn_core::{FailureKind, Profile, Response, Tier};
    /// let mut r = Response::generated(Tier::L2, 521, "Web server is down");
    /// r.failure = Some(FailureKind::Refused);
    /// let f = ErrorFacts::of(Profile::Cloudflare, &r).unwrap();
    /// assert_eq!((f.hop.from, f.hop.to), (Place::Shield, Place::Host));
    /// assert_eq!(f.phrase, "Web Server Is Down");
    /// assert!(ErrorFacts::of(Profile::Cloudflare, &Response::generated(Tier::Origin, 503, "")).is_none());
    /// ```
    pub fn of(profile: Profile, resp: &Response) -> Option<ErrorFacts> {
        if resp.generated_by == Tier::Origin || resp.status < 400 {
            return None;
        }
        let from = Place::of(resp.generated_by);
        let phrase = reason_phrase(resp.status).unwrap_or("Error");
        let stopping = resp.reason == Some(SHUTTING_DOWN);
        // A node that stops answers for itself: the "hop" ends where it starts.
        let to = if stopping { from } else { from.next() };
        Some(ErrorFacts {
            profile,
            status: resp.status,
            phrase,
            title: resp.reason.unwrap_or(phrase),
            generated_by: resp.generated_by,
            hop: FailedHop {
                from,
                to,
                failure: resp.failure,
            },
            advice: if stopping {
                Advice {
                    what_happened: "The CDN server that took your request is shutting down: \
                                    your request was still running when its grace period ended.",
                    visitor: "Try again: another server, or this one restarted, will answer.",
                    owner: "Nothing on your server caused this.",
                }
            } else {
                advice(resp.failure, to)
            },
        })
    }

    /// The project's page for this code, relative to the repository
    /// (`docs/errors/521.md`); codes without one point to the index.
    pub fn docs_page(&self) -> String {
        const PAGES: [u16; 14] = [
            403, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 525, 526, 530,
        ];
        if PAGES.contains(&self.status) {
            format!("docs/errors/{}.md", self.status)
        } else {
            "docs/errors/README.md".to_string()
        }
    }

    /// Whether the hop leaving `place` is the one that failed.
    pub fn failed_after(&self, place: Place) -> bool {
        self.hop.from == place
    }
}

/// Advice for a failure on the hop that reaches `to`.
fn advice(failure: Option<FailureKind>, to: Place) -> Advice {
    use FailureKind as F;
    let a = |what_happened, visitor, owner| Advice {
        what_happened,
        visitor,
        owner,
    };
    if to == Place::Shield {
        return a(
            "The edge that took your request could not get it answered by the CDN's own \
             parent tier. The origin was never asked.",
            "Try again in a few minutes: the CDN routes around a failed parent.",
            "Nothing on your server caused this. If it persists, the CDN's status page is the \
             place to look.",
        );
    }
    match failure {
        Some(F::Refused) => a(
            "The CDN reached the web server's address, but nothing accepted the connection: \
             the server answered the connection attempt with a refusal (TCP RST).",
            "Try again in a few minutes; the site's owner has to start the web server again.",
            "Make sure the web server runs and listens on the port the CDN connects to, and \
             that no firewall REJECTs the CDN's addresses.",
        ),
        Some(F::ConnectTimeout) => a(
            "The CDN sent connection attempts (SYN) to the web server and got no answer at all \
             until it gave up: something drops them silently.",
            "Try again in a few minutes.",
            "A firewall DROPs the CDN's addresses, or the server's accept queue is full. Allow \
             every back-to-origin address the CDN publishes and check the server's load.",
        ),
        Some(F::AckTimeout) => a(
            "The CDN connected to the web server, but the request it sent was never \
             acknowledged: packets after the handshake are lost on the way.",
            "Try again in a few minutes.",
            "Look for a middlebox or an MTU black hole between the CDN and the server.",
        ),
        Some(F::Unreachable) => a(
            "The CDN found no route to the web server's address.",
            "Try again in a few minutes.",
            "Check the origin's DNS record and that its address is routable from the CDN.",
        ),
        Some(F::ReadTimeout) | Some(F::WriteTimeout) => a(
            "The CDN connected to the web server and sent the request, but the server did not \
             answer before the CDN's timeout.",
            "Try again in a few minutes.",
            "Something on the server takes too long: a slow query, a stuck worker, a full \
             queue. Make long tasks asynchronous or answer sooner.",
        ),
        Some(F::TlsHandshake) => a(
            "The CDN could not complete a TLS handshake with the web server.",
            "Try again in a few minutes.",
            "Serve TLS on the port the CDN connects to (port 443 for HTTPS), with a protocol \
             version and cipher the CDN supports.",
        ),
        Some(F::Certificate(_)) => a(
            "The web server's TLS certificate did not pass the CDN's verification (expired, \
             self-signed, for another name, or from an issuer the CDN does not trust).",
            "Try again later; only the site's owner can fix it.",
            "Install a valid certificate for the origin's hostname (the CDN's origin CA counts \
             as trusted), or relax the SSL mode while you do.",
        ),
        Some(F::Dns) => a(
            "The CDN could not resolve the origin's hostname.",
            "Try again later.",
            "Check the DNS record the CDN uses for the origin.",
        ),
        Some(F::Reset)
        | Some(F::ClosedEarly)
        | Some(F::InvalidResponse)
        | Some(F::HeaderTooLarge) => a(
            "The CDN connected to the web server, but the server reset or closed the \
             connection, or sent something that is not a valid HTTP response.",
            "Try again in a few minutes.",
            "Look at the server's error log: a crashing worker, a connection limit that closes \
             without a reply, or oversized response headers.",
        ),
        Some(F::UpstreamStatus(_)) | None => a(
            "The CDN could not get a usable response from the web server.",
            "Try again in a few minutes.",
            "Look at the server's error log around the time below.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_code_has_a_phrase_and_standard_codes_keep_theirs() {
        for code in 520..=526 {
            assert!(reason_phrase(code).is_some(), "{code}");
        }
        assert_eq!(reason_phrase(503), Some("Service Unavailable"));
        assert_eq!(reason_phrase(504), Some("Gateway Timeout"));
    }

    #[test]
    fn an_edge_generated_error_marks_the_hop_to_the_shield() {
        let mut r = Response::generated(Tier::L1, 522, "Connection timed out");
        r.failure = Some(FailureKind::ConnectTimeout);
        let f = ErrorFacts::of(Profile::Cloudflare, &r).unwrap();
        assert_eq!((f.hop.from, f.hop.to), (Place::Edge, Place::Shield));
        assert!(f.failed_after(Place::Edge));
        assert!(!f.failed_after(Place::Shield));
        assert!(f.advice.what_happened.contains("parent tier"));
    }
}
