//! Model messages ⇄ hyper messages at a proxy: the request it sends upstream and the
//! response it sends downstream.

use super::shared::Shared;
use crate::error_page::{self, PageContext};
use crate::timing::SENT_HEADER;
use crate::trace_sink::TRACE_HEADER;
use crate::wire::{self, Stamp};
use bytes::Bytes;
use cdn_core::node::Validators;
use cdn_core::profile::{reason_phrase, ErrorFacts};
use cdn_core::{CacheStatus, Method, Profile, Request, Response, Tier};
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

    /// The response this node sends downstream; an error this CDN generated gets, at the
    /// edge, the vendor's page (JSON when `json`), and every status its vendor reason phrase.
    pub(super) fn to_http(
        &self,
        resp: &Response,
        status: CacheStatus,
        json: bool,
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
        let (line, carried) = wire::status_line(resp.status);
        // The page a person sees: only the edge renders it (between tiers the facts travel
        // in headers), and not for a status the line cannot carry (nginx's HTTP/0.9 relay).
        let page = match ErrorFacts::of(self.profile, resp) {
            Some(facts) if self.tier == Tier::L1 && !carried => Some(self.page(&facts, json)),
            _ => None,
        };
        let body = match &page {
            Some((body, kind, _)) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(kind),
                );
                Bytes::from(body.clone())
            }
            None if resp.status == 304 => Bytes::new(),
            None => wire::body(resp.body_len),
        };
        if let Some((_, _, id)) = &page {
            let name = if self.profile == Profile::Cloudflare {
                "cf-ray"
            } else {
                "x-request-id"
            };
            if let Ok(v) = http::HeaderValue::from_str(id) {
                headers.insert(name, v);
            }
        }
        let mut r = hyper::Response::new(Full::new(body));
        *r.status_mut() = line;
        if carried {
            headers.insert(wire::MODEL_STATUS, http::HeaderValue::from(resp.status));
        } else if line.canonical_reason().is_none() {
            // 52x: the vendor's phrase, not hyper's `<none>`.
            if let Some(p) = reason_phrase(resp.status) {
                r.extensions_mut()
                    .insert(hyper::ext::ReasonPhrase::from_static(p.as_bytes()));
            }
        }
        *r.headers_mut() = headers;
        r
    }

    /// The error page for `facts` (body, media type, request id).
    fn page(&self, facts: &ErrorFacts, json: bool) -> (String, &'static str, String) {
        let id = request_id(&self.name);
        let time = self.timers.clock().http_date(self.timers.now());
        let ctx = PageContext {
            request_id: &id,
            time: &time,
            node: &self.name,
            host: &self.origin_host,
        };
        if json {
            (error_page::json(facts, &ctx), error_page::JSON, id)
        } else {
            (error_page::html(facts, &ctx), error_page::HTML, id)
        }
    }
}

/// A request id like a Ray ID: 16 hex digits, unique in this process (a counter mixed with
/// a per-process random key, so ids do not reveal how many requests came before).
fn request_id(node: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut h = KEY.get_or_init(Default::default).build_hasher();
    h.write_u64(n);
    h.write(node.as_bytes());
    format!("{:016x}", h.finish())
}
