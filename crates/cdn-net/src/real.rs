//! Real HTTP messages from and to a real upstream: which headers are hop-by-hop (RFC 9110
//! §7.6.1), the model [`Response`] the node decides on (from the upstream's real
//! `Cache-Control`, `Expires`, `Date`, `Age`, `ETag`, `Last-Modified`, `Vary`, `Set-Cookie`,
//! and the request's `Authorization`), entity tags as the model's [`Etag`]s, and
//! `If-None-Match` lists.

use crate::clock::VirtualClock;
use crate::wire;
use cdn_core::message::{mix64, Etag, Vary};
use cdn_core::profile::RealRules;
use cdn_core::Response;
use http::header::{self, HeaderMap, HeaderName};

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), plus
/// `Proxy-Authorization`/`Proxy-Authenticate`, which are for the proxy itself.
/// (As [`HeaderName`]s: removing by `&str` would parse each name on every message.)
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
///
/// ```
/// let mut h = http::HeaderMap::new();
/// h.insert("connection", "close, x-private".parse().unwrap());
/// h.insert("x-private", "1".parse().unwrap());
/// h.insert("x-kept", "1".parse().unwrap());
/// cdn_net::real::strip_hop_by_hop(&mut h);
/// assert!(h.get("x-private").is_none() && h.get("connection").is_none());
/// assert!(h.get("x-kept").is_some());
/// ```
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    strip_hop_by_hop_as(h, true);
}

/// [`strip_hop_by_hop`], without the headers `Connection` names when
/// `connection_names` is false (nginx's way).
pub fn strip_hop_by_hop_as(h: &mut HeaderMap, connection_names: bool) {
    if connection_names && h.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for n in named {
            h.remove(n);
        }
    }
    // A message carries a handful of names and at most one or two of these: find them
    // among the names present rather than hash all nine to remove them.
    while let Some(n) = h.keys().find(|k| HOP_BY_HOP.contains(k)).cloned() {
        h.remove(n);
    }
}

/// An entity tag (its opaque part: weak and strong tags with the same value compare equal,
/// as `If-None-Match`'s weak comparison wants) as the model's [`Etag`].
///
/// ```
/// use cdn_net::real::etag;
/// assert_eq!(etag("W/\"abc\""), etag("\"abc\""));
/// assert_ne!(etag("\"abc\""), etag("\"abd\""));
/// ```
pub fn etag(value: &str) -> Etag {
    let opaque = value.trim().trim_start_matches("W/");
    let mut h = cdn_core::message::UrlHasher::new("etag");
    h.write(opaque.as_bytes());
    // Never the `*` sentinel.
    Etag((mix64(h.finish().0) as u32).min(u32::MAX - 1))
}

/// The entity tags of an `If-None-Match` header: `Some(vec![Etag::ANY])` for `*`.
///
/// ```
/// use cdn_net::real::{etag, if_none_match};
/// let mut h = http::HeaderMap::new();
/// h.insert("if-none-match", "\"v0\", W/\"v1\"".parse().unwrap());
/// assert_eq!(if_none_match(&h), vec![etag("\"v0\""), etag("\"v1\"")]);
/// ```
pub fn if_none_match(h: &HeaderMap) -> Vec<Etag> {
    let mut tags = Vec::new();
    for v in h.get_all(header::IF_NONE_MATCH) {
        let Ok(v) = v.to_str() else { continue };
        for t in split_tags(v) {
            if t == "*" {
                return vec![Etag::ANY];
            }
            tags.push(etag(t));
        }
    }
    tags
}

/// Splits a list of entity tags (commas may appear inside quoted tags).
fn split_tags(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|t| !t.is_empty());
    out
}

/// The header names a response's `Vary` lists (lower case), or `None` for `Vary: *`.
pub fn vary_names(h: &HeaderMap) -> Option<Vec<String>> {
    vary_names_as(h, true)
}

/// [`vary_names`]; with `star_in_list` false only a value that is exactly `*` means "never
/// matches" (nginx's way).
pub fn vary_names_as(h: &HeaderMap, star_in_list: bool) -> Option<Vec<String>> {
    if !star_in_list {
        if h.get_all(header::VARY)
            .iter()
            .any(|v| v.as_bytes().trim_ascii() == b"*")
        {
            return None;
        }
        let mut names: Vec<String> = h
            .get_all(header::VARY)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        names.dedup();
        return Some(names);
    }
    let mut names = Vec::new();
    for v in h.get_all(header::VARY) {
        for n in v.to_str().unwrap_or("").split(',') {
            let n = n.trim().to_ascii_lowercase();
            if n == "*" {
                return None;
            }
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.sort();
    Some(names)
}

/// A hash of the values a request carries for the headers `names` (a `Vary` secondary key).
pub fn vary_hash(req: &HeaderMap, names: &[String]) -> u64 {
    let mut h = cdn_core::message::UrlHasher::new("vary");
    for n in names {
        h.write(n.as_bytes());
        h.write(b":");
        for v in req.get_all(n.as_str()) {
            // Whitespace around list members does not change the value.
            let v: String = v
                .as_bytes()
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|&b| b as char)
                .collect();
            h.write(v.as_bytes());
            h.write(b",");
        }
        h.write(b"\n");
    }
    h.finish().0
}

/// An HTTP date, accepting day and month names and `GMT` in any letter case.
///
/// ```
/// let clock = cdn_net::VirtualClock::start(1.0).unwrap();
/// let a = cdn_net::real::lenient_date(&clock, "Thu, 01 Jan 2099 00:00:00 GMT");
/// assert!(a.is_some());
/// assert_eq!(cdn_net::real::lenient_date(&clock, "THU, 01 JAN 2099 00:00:00 gmt"), a);
/// ```
pub fn lenient_date(clock: &VirtualClock, v: &str) -> Option<cdn_core::Instant> {
    clock.parse_http_date(v).or_else(|| {
        // Case only: the spacing stays as it was (extra spaces keep a date invalid).
        let fixed: Vec<String> = v
            .split(' ')
            .map(|w| {
                let (word, comma) = match w.strip_suffix(',') {
                    Some(x) => (x, ","),
                    None => (w, ""),
                };
                if word.eq_ignore_ascii_case("gmt") {
                    return format!("GMT{comma}");
                }
                if word.len() == 3 && word.bytes().all(|b| b.is_ascii_alphabetic()) {
                    let lower = word.to_ascii_lowercase();
                    let mut c = lower.chars();
                    let first = c.next().map(|f| f.to_ascii_uppercase());
                    return format!("{}{}{comma}", first.unwrap_or_default(), c.as_str());
                }
                w.to_string()
            })
            .collect();
        clock.parse_http_date(&fixed.join(" "))
    })
}

/// Bytes of a header block as it travels (name, `: `, value, CRLF).
pub fn header_bytes(h: &HeaderMap) -> u32 {
    let n: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What the node decides on for a real response: the model [`Response`] of its head, read
/// by the vendor's `rules`. `body_len` is what is known of the body; `storable` is false for
/// a body larger than the store takes; `authorization` is whether the request carried
/// credentials (RFC 9111 §3.5: then only `public`, `s-maxage` or `must-revalidate` let a
/// shared cache store it).
pub fn model_response(
    status: u16,
    headers: &HeaderMap,
    body_len: u64,
    clock: &VirtualClock,
    storable: bool,
    authorization: bool,
    rules: RealRules,
) -> Response {
    let authorization = authorization && rules.authorization_guard;
    let mut r = wire::response_from_http_undated(status, headers, body_len, clock);
    r.etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(etag);
    // Dates in the wrong case are still dates (`Expires: mon, 01 jan 2035 …`).
    let date = |n: header::HeaderName| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| lenient_date(clock, v))
    };
    if let Some(d) = date(header::DATE) {
        r.date = d;
    }
    r.expires = date(header::EXPIRES);
    r.last_modified = date(header::LAST_MODIFIED);
    // `Vary` other than `*` is handled by the secondary key (see `vary_hash`).
    r.vary = match vary_names_as(headers, rules.vary_star_in_list) {
        None => Vary::Any,
        Some(_) => Vary::None,
    };
    let cc = &r.cache_control;
    let credentials_ok = cc.public || cc.s_maxage.is_some() || cc.must_revalidate;
    if !storable || (authorization && !credentials_ok) {
        r.cache_control.no_store = true;
    }
    // Several Cache-Control fields are one list.
    if headers.get_all(header::CACHE_CONTROL).iter().count() > 1 {
        let joined: Vec<&str> = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut cc = cdn_core::CacheControl::parse(&joined.join(","));
        cc.no_store |= r.cache_control.no_store;
        r.cache_control = cc;
    }
    // RFC 9213: CDN-Cache-Control, where present and valid, is what a CDN obeys instead.
    if let Some(v) = headers
        .get("cdn-cache-control")
        .and_then(|v| v.to_str().ok())
        .filter(|v| rules.cdn_cache_control && valid_targeted(v))
    {
        let mut cc = cdn_core::CacheControl::parse(v);
        cc.no_store |= r.cache_control.no_store && (!storable || authorization);
        r.cache_control = cc;
    }
    // RFC 9111 §5.3: an invalid Expires means already expired.
    if headers.contains_key(header::EXPIRES) && r.expires.is_none() {
        r.expires = Some(cdn_core::Instant::ZERO);
    }
    // Age: the first member of the first line (RFC 9111 §5.1, a list is not an age).
    r.age = std::time::Duration::from_secs(
        headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    );
    if !rules.date_and_age {
        // As old as the time since it arrived; Expires counts from the cache's clock.
        r.date = clock.now();
        r.age = std::time::Duration::ZERO;
    }
    r.header_bytes = header_bytes(headers);
    r
}

/// Whether a targeted cache-control field (RFC 9213) parses as a Structured Field
/// dictionary whose `max-age`/`s-maxage` are integers; an invalid one is ignored.
///
/// ```
/// use cdn_net::real::valid_targeted;
/// assert!(valid_targeted("max-age=60, must-revalidate"));
/// assert!(!valid_targeted("max-age=10000, &&&&&"));
/// assert!(!valid_targeted("max-age=\"10000\""));
/// ```
pub fn valid_targeted(v: &str) -> bool {
    v.split(',').all(|member| {
        let member = member.split(';').next().unwrap_or("").trim();
        let (key, value) = match member.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (member, None),
        };
        let key_ok = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b));
        let numeric = matches!(
            key,
            "max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error"
        );
        let value_ok = match value {
            None => true,
            Some(v) if numeric => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
            Some(v) => {
                (v.starts_with('"') && v.ends_with('"') && v.len() >= 2)
                    || v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._*:/%".contains(&b))
            }
        };
        key_ok && value_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_response_reads_dates_validators_and_head_size_from_the_headers() {
        let clock = VirtualClock::start(1.0).unwrap();
        let date = clock.http_date(cdn_core::Instant(90_000_000_000));
        let mut h = HeaderMap::new();
        h.insert(header::DATE, date.parse().unwrap());
        // Lower case: only the lenient reading accepts it.
        h.insert(header::EXPIRES, date.to_ascii_lowercase().parse().unwrap());
        h.insert(header::LAST_MODIFIED, date.parse().unwrap());
        h.insert(header::ETAG, "\"abc\"".parse().unwrap());
        h.insert(header::CACHE_CONTROL, "max-age=60".parse().unwrap());
        // Dates as sent (nginx's rules take the arrival time instead).
        let rules = RealRules {
            date_and_age: true,
            ..cdn_core::Profile::Nginx.real_rules()
        };
        let r = model_response(200, &h, 10, &clock, true, false, rules);
        let at = Some(cdn_core::Instant(90_000_000_000));
        assert_eq!(Some(r.date), at);
        assert_eq!(r.expires, at);
        assert_eq!(r.last_modified, at);
        assert_eq!(r.etag, Some(etag("\"abc\"")));
        assert_eq!(r.header_bytes, header_bytes(&h));
        assert_eq!(r.cache_control.max_age, Some(60));
        // No Date: the response is as old as now.
        h.remove(header::DATE);
        let before = clock.now();
        let r = model_response(200, &h, 10, &clock, true, false, rules);
        assert!(r.date >= before && r.date <= clock.now());
    }

    #[test]
    fn lists_and_star() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, "*".parse().unwrap());
        assert_eq!(if_none_match(&h), vec![Etag::ANY]);
        assert_eq!(split_tags("\"a,b\", \"c\""), vec!["\"a,b\"", "\"c\""]);
    }

    #[test]
    fn vary_star_and_names() {
        let mut h = HeaderMap::new();
        h.append(header::VARY, "Accept-Language, Foo".parse().unwrap());
        assert_eq!(
            vary_names(&h),
            Some(vec!["accept-language".into(), "foo".into()])
        );
        h.append(header::VARY, "*".parse().unwrap());
        assert_eq!(vary_names(&h), None);
    }
}
