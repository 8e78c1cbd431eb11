//! How a vendor reads a real upstream's headers where RFC 9111 leaves room or where the
//! vendor departs from it (a real upstream only: the modelled origin's responses carry none
//! of these cases). Measured against real nginx with the public HTTP-caching suite
//! (docs/conformance.md).

use super::Profile;

/// A vendor's rules for real response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealRules {
    /// A `304`'s headers replace the stored ones (RFC 9111 §4.3.4). nginx keeps serving the
    /// stored headers.
    pub update_headers_from_304: bool,
    /// A successful unsafe method invalidates the URL and its `Location` /
    /// `Content-Location` (RFC 9111 §4.4). nginx invalidates nothing.
    pub invalidate_on_unsafe: bool,
    /// `CDN-Cache-Control` (RFC 9213) takes precedence over `Cache-Control`.
    pub cdn_cache_control: bool,
    /// Age is computed from the response's `Date` and `Age` (RFC 9111 §4.2.3). nginx reads
    /// neither: a response is as old as the time since it arrived, and `Expires` counts from
    /// the cache's own clock.
    pub date_and_age: bool,
    /// A response to a request with `Authorization` is stored only with `public`,
    /// `s-maxage` or `must-revalidate` (RFC 9111 §3.5). nginx stores it like any other.
    pub authorization_guard: bool,
    /// A client's `If-None-Match` / `If-Modified-Since` go upstream when there is no
    /// stored copy to answer them. nginx drops them on a cacheable request.
    pub forward_client_validators: bool,
    /// `Vary: *` anywhere in the list means "never matches" (RFC 9110 §12.5.5). nginx
    /// only recognises a value that is exactly `*`.
    pub vary_star_in_list: bool,
    /// `If-None-Match` takes precedence over `If-Modified-Since`, which matches any copy
    /// modified no later than its date (RFC 9110 §13.2.2). nginx (`if_modified_since
    /// exact`) wants the date exactly, and both to match when both are sent.
    pub rfc_preconditions: bool,
    /// Response headers named in `Connection` are hop-by-hop (RFC 9110 §7.6.1). nginx
    /// removes only the fixed hop-by-hop set.
    pub connection_names_hop_by_hop: bool,
}

impl Profile {
    /// The vendor's [`RealRules`].
    ///
    /// ```
    /// use cdn_core::Profile;
    /// assert!(Profile::Rfc9111.real_rules().update_headers_from_304);
    /// assert!(!Profile::Nginx.real_rules().invalidate_on_unsafe);
    /// ```
    pub fn real_rules(self) -> RealRules {
        match self {
            Profile::Nginx | Profile::Alibaba => RealRules {
                update_headers_from_304: false,
                invalidate_on_unsafe: false,
                cdn_cache_control: false,
                date_and_age: false,
                authorization_guard: false,
                forward_client_validators: false,
                vary_star_in_list: false,
                rfc_preconditions: false,
                connection_names_hop_by_hop: false,
            },
            Profile::Cloudflare
            | Profile::Cloudfront
            | Profile::Fastly
            | Profile::Varnish
            | Profile::Rfc9111 => RealRules {
                update_headers_from_304: true,
                invalidate_on_unsafe: true,
                cdn_cache_control: true,
                date_and_age: true,
                authorization_guard: true,
                forward_client_validators: true,
                vary_star_in_list: true,
                rfc_preconditions: true,
                connection_names_hop_by_hop: true,
            },
        }
    }
}
