//! Model messages ⇄ hyper messages at a proxy: the request it sends upstream and the
//! response it sends downstream.

use super::shared::Shared;
use crate::timing::SENT_HEADER;
use crate::trace_sink::TRACE_HEADER;
use crate::wire::{self, Stamp};
use bytes::Bytes;
use cdn_core::node::Validators;
use cdn_core::{CacheStatus, Method, Request, Response, Tier};
use http_body_util::Full;

impl Shared {
    /// The request this node sends upstream for `req` (conditional with `conditional`; the
    /// trace header passed on for a traced request).
    pub(super) fn upstream_request(
        &self,
        req: &Request,
        path: &str,
        conditional: Option<Validators>,
        trace: Option<u64>,
    ) -> hyper::Request<Full<Bytes>> {
        let mut r = hyper::Request::new(Full::new(Bytes::new()));
        *r.uri_mut() = path.parse().unwrap_or_else(|_| "/".parse().expect("valid"));
        *r.method_mut() = match req.method {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Other => http::Method::POST,
        };
        let h = r.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&self.origin_host) {
            h.insert(http::header::HOST, v);
        }
        h.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static(wire::accept_encoding(req.encoding)),
        );
        h.insert(
            "x-forwarded-proto",
            http::HeaderValue::from_static(req.scheme.as_str()),
        );
        if let Some(n) = trace {
            h.insert(TRACE_HEADER, http::HeaderValue::from(n));
        }
        if let Some(v) = conditional {
            wire::add_validators(h, &v, &self.timers.clock());
        }
        r
    }

    /// The response this node sends downstream.
    pub(super) fn to_http(
        &self,
        resp: &Response,
        status: CacheStatus,
    ) -> hyper::Response<Full<Bytes>> {
        let age = match self.tier {
            // To clients: the vendor's rule. Between tiers: always, as RFC 9111 requires.
            Tier::L1 => self.profile.age_header(status, resp),
            _ => resp.age_header(),
        };
        let stamp = Stamp {
            node: &self.name,
            status: Some(status),
            age,
        };
        let mut headers = wire::headers_for(resp, &stamp, &self.timers.clock());
        // When it leaves, for the receiver's emulated link.
        let sent = self.timers.now().as_nanos();
        headers.insert(SENT_HEADER, http::HeaderValue::from(sent));
        let body = if resp.status == 304 {
            Bytes::new()
        } else {
            wire::body(resp.body_len)
        };
        let mut r = hyper::Response::new(Full::new(body));
        *r.status_mut() =
            http::StatusCode::from_u16(resp.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        *r.headers_mut() = headers;
        r
    }
}
