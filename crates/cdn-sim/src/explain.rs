//! `cdn-sim explain CODE`: what a status code means in a CDN, which tier generates it, what
//! causes it and how to fix it, with the built-in scenario that shows it.

/// One code's explanation.
#[derive(Clone, Copy, Debug)]
pub struct Explanation {
    /// The status code.
    pub code: u16,
    /// Short name.
    pub title: &'static str,
    /// Who generates it.
    pub generated_by: &'static str,
    /// What causes it.
    pub causes: &'static [&'static str],
    /// How to fix it.
    pub fixes: &'static [&'static str],
    /// What other vendors answer in the same situation.
    pub elsewhere: &'static str,
    /// Built-in scenarios that show it, each optionally followed by `--set KEY=VALUE`
    /// arguments of `cdn-sim run` (e.g. `"origin-garbage --set profile=nginx"`).
    pub scenarios: &'static [&'static str],
}

const ALL: &[Explanation] = &[
    Explanation {
        code: 9,
        title: "HTTP/0.9 relay (nginx: no status line at all)",
        generated_by: "an nginx tier whose upstream answered with something that is not HTTP: it relays the bytes as they came",
        causes: &[
            "the upstream's reply does not start with a status line (a different protocol, a misrouted port, a crashed backend writing junk)",
            "nginx then answers as HTTP/0.9: no status line, no headers, just the upstream's bytes, and keeps the connection open; its access log shows status 009",
            "browsers and curl refuse an HTTP/0.9 answer on a non-default port; the simulator reports it as status 9",
        ],
        fixes: &[
            "find what listens on the upstream port (without proxy_cache, nginx's error log says \"upstream sent no valid HTTP/1.0 header\")",
            "measured against nginx 1.22 by crates/cdn-net/tests/nginx_upstream.rs",
        ],
        elsewhere: "Cloudflare 520; Alibaba and CloudFront 502; Fastly and Varnish 503",
        scenarios: &["origin-garbage --set profile=nginx"],
    },
    Explanation {
        code: 403,
        title: "Forbidden",
        generated_by: "the origin (an access rule or a WAF refusing the address it sees), passed through by every CDN tier",
        causes: &[
            "an allow/deny list at the origin (nginx `deny`, Apache `Require ip`, a WAF) that does not include the CDN's back-to-origin ranges: the origin sees the L2's egress address, never the visitor's",
            "hotlink or geo rules at the origin applied to the CDN's requests",
        ],
        fixes: &[
            "allow the CDN's current back-to-origin ranges (or authenticate the CDN with a header or mTLS instead of by address)",
            "make per-visitor decisions on the visitor's address from CF-Connecting-IP / X-Forwarded-For (nginx realip module)",
        ],
        elsewhere: "the same everywhere: the origin's 403 is passed through; CDNs also generate their own 403 for their own WAF, which this model does not simulate",
        scenarios: &["origin-403-deny"],
    },
    Explanation {
        code: 429,
        title: "Too Many Requests",
        generated_by: "the origin's rate limit (nginx limit_req/limit_conn with limit_req_status 429), passed through by every CDN tier",
        causes: &[
            "a per-address rate limit at the origin keyed on the connecting address, which is the CDN's egress IP: many visitors share one bucket",
        ],
        fixes: &[
            "key the limit on the visitor (realip module with CF-Connecting-IP / X-Forwarded-For), not on $binary_remote_addr",
            "exempt the CDN's back-to-origin ranges, or size rate and burst for a whole egress IP's share of traffic",
        ],
        elsewhere: "the same everywhere: passed through; nginx's default for limit_req is 503, so many origins send 503 instead",
        scenarios: &["limit-req-429"],
    },
    Explanation {
        code: 500,
        title: "Internal Server Error",
        generated_by: "the origin's application, passed through unchanged by every CDN tier (no profile generates 500 for a connection failure)",
        causes: &[
            "the application crashed or threw while handling the request (a bug, a failed database query)",
            "a misconfiguration the origin's web server reports as 500 (a bad rewrite, a missing interpreter)",
        ],
        fixes: &[
            "read the origin's application and error logs for the request: the CDN only relays what it got",
            "stale-if-error lets caches answer with a stored copy while the origin fails (Cloudflare's Always Online does not cover 500)",
        ],
        elsewhere: "the same everywhere: an origin's 500 is passed through and, by default, not cached (CloudFront and Akamai cache errors for 10 s)",
        scenarios: &["negative-caching"],
    },
    Explanation {
        code: 502,
        title: "Bad Gateway",
        generated_by: "the proxy tier whose own connection to the next tier failed (nginx-like profiles: L2 for origin failures)",
        causes: &[
            "nothing listens on the origin port, or a firewall REJECTs the CDN's egress address (connect() failed: Connection refused)",
            "the origin reset or closed the connection (nginx relays a reply that is not HTTP as HTTP/0.9 instead: see explain 9)",
            "the origin's response headers do not fit the proxy's buffer (nginx proxy_buffer_size, 4 KiB: \"upstream sent too big header\")",
            "TLS handshake failed, or (with verification on) the origin's certificate did not verify — CloudFront verifies by default",
            "the origin hostname does not resolve; no route to the origin",
            "or the origin itself answered 502 (passed through)",
        ],
        fixes: &[
            "start the origin / open the port; whitelist the CDN's *current* back-to-origin ranges",
            "read the proxy's error log line: it names the failing step",
        ],
        elsewhere: "Cloudflare splits this into 520, 521, 523, 525, 526 and 530; Fastly and Varnish say 503",
        scenarios: &["nginx-origin-down", "ssl-strict-nginx-verify", "collapse-uncacheable-502"],
    },
    Explanation {
        code: 503,
        title: "Service Unavailable",
        generated_by: "usually the origin (rate limit, connection limit, overload) and passed through by every CDN tier; Fastly and Varnish also generate it for every failed fetch",
        causes: &[
            "nginx limit_req at the origin, keyed by the connecting address: the CDN's few egress IPs carry many users' traffic",
            "nginx limit_conn: too many requests in flight from one egress IP",
            "all workers busy and the wait queue full",
        ],
        fixes: &[
            "key limits on the real client (X-Forwarded-For / CF-Connecting-IP), not on the CDN's egress address",
            "exempt the CDN's back-to-origin ranges, or raise rate/burst to cover a pool's share",
            "add capacity; let the CDN cache more (longer TTLs, stale-if-error)",
        ],
        elsewhere: "the same everywhere: the origin's 503 is passed through",
        scenarios: &["limit-req-one-ip", "alibaba-security-503", "limit-conn", "origin-overloaded"],
    },
    Explanation {
        code: 504,
        title: "Gateway Timeout",
        generated_by: "the proxy tier whose connect or read timed out — and the first one to give up: two tiers of nginx both wait 60 s, the edge started first, so the edge (L1) generates it",
        causes: &[
            "SYN dropped (firewall DROP, full accept queue): connect timeout (nginx 60 s, Alibaba 10 s, CloudFront 3 × 10 s)",
            "connected but no response header before the read timeout (nginx 60 s, Alibaba 30 s, CloudFront 30 s, retried up to 3 times)",
            "connected, but the request was never acknowledged (a black hole): without an ACK timeout of its own, nginx waits its read timeout",
        ],
        fixes: &[
            "whitelist the CDN's back-to-origin ranges instead of dropping them",
            "find the slow handler; raise the read timeout only if the work really takes that long",
        ],
        elsewhere: "Cloudflare: 522 for connect timeouts, 524 for read timeouts",
        scenarios: &["nginx-origin-hung", "firewall-drop-nginx", "nested-timeouts", "nginx-l1-times-out-first"],
    },
    Explanation {
        code: 520,
        title: "Web server is returning an unknown error (Cloudflare)",
        generated_by: "the Cloudflare tier connected to the origin",
        causes: &[
            "the origin reset the connection (RST) after the request",
            "the origin closed the connection without answering, or answered with garbage",
            "response headers over 128 KB (often too many cookies)",
            "e.g. Apache mod_antiloris closing excess connections without a reply",
        ],
        fixes: &["check the origin's error log for crashes; look for connection-limiting modules; trim cookies"],
        elsewhere: "nginx-like profiles: 502 (nginx relays garbage as HTTP/0.9: explain 9)",
        scenarios: &["origin-reset", "origin-close", "origin-garbage"],
    },
    Explanation {
        code: 521,
        title: "Web server is down (Cloudflare)",
        generated_by: "the Cloudflare tier connected to the origin",
        causes: &[
            "nothing listens on the port (the kernel answers RST: connection refused)",
            "a firewall REJECTs the egress address (RST or ICMP port unreachable)",
            "ssl_mode flexible against an origin that only listens on 443",
        ],
        fixes: &[
            "start the web server / open the port",
            "whitelist the CDN's current back-to-origin ranges",
            "match the SSL mode to what the origin listens on",
        ],
        elsewhere: "nginx-like profiles: 502 at once",
        scenarios: &["origin-down", "firewall-reject", "ssl-flexible-https-only", "whitelist-stale-snapshot"],
    },
    Explanation {
        code: 522,
        title: "Connection timed out (Cloudflare)",
        generated_by: "the Cloudflare tier connecting to the origin: after the 19 s connect (SYNs at 0, 1, 2, 3, 4, 5, 7 and 11 s), or 90 s after a request the origin never acknowledged",
        causes: &[
            "a firewall silently DROPs the egress address (not a REJECT: that would be 521)",
            "the origin's accept queue is full, so SYNs are dropped",
            "a whitelist of fixed egress IPs while the CDN's pool rotates",
            "connected, but the request is never acknowledged (a middlebox or an MTU black hole): the 90 s TCP ACK timeout",
        ],
        fixes: &[
            "allow every range Cloudflare publishes at https://www.cloudflare.com/ips/, and keep the list current",
            "raise the listen backlog / fix the overloaded accept loop",
            "for a black hole: check MTU / PMTU discovery and middleboxes between Cloudflare and the origin",
        ],
        elsewhere: "nginx: 504 after proxy_connect_timeout (60 s); Alibaba 504 after 10 s",
        scenarios: &["firewall-drop", "whitelist-rotating-pool", "accept-queue-full", "blackhole-vs-hung"],
    },
    Explanation {
        code: 523,
        title: "Origin is unreachable (Cloudflare)",
        generated_by: "the Cloudflare tier connecting to the origin",
        causes: &["no route to the origin's address (ICMP host/network unreachable)"],
        fixes: &["fix the origin's address in DNS / the routing to it"],
        elsewhere: "nginx-like profiles: 502",
        scenarios: &["origin-unreachable"],
    },
    Explanation {
        code: 524,
        title: "A timeout occurred (Cloudflare)",
        generated_by: "the Cloudflare tier connected to the origin, after the proxy read timeout (120 s), or a 30 s write timeout",
        causes: &["the origin accepted the connection and acknowledged the request but sent no response header in time"],
        fixes: &["make the handler faster or asynchronous (poll for results); 120 s is the limit below Enterprise"],
        elsewhere: "nginx: 504 after proxy_read_timeout (60 s); Alibaba 504 after 30 s",
        scenarios: &["origin-hung", "blackhole-vs-hung"],
    },
    Explanation {
        code: 525,
        title: "SSL handshake failed (Cloudflare)",
        generated_by: "the Cloudflare tier connecting to the origin over TLS",
        causes: &["ssl_mode full/strict but the origin speaks plain HTTP on 443, or no shared protocol/cipher"],
        fixes: &["install a certificate and TLS on 443, or use an SSL mode that fetches over HTTP"],
        elsewhere: "nginx-like profiles: 502 (SSL_do_handshake() failed)",
        scenarios: &["ssl-full-plain-443"],
    },
    Explanation {
        code: 526,
        title: "Invalid SSL certificate (Cloudflare)",
        generated_by: "the Cloudflare tier connecting to the origin with ssl_mode strict / origin_pull_strict",
        causes: &["the origin's certificate is expired, self-signed, or for another hostname"],
        fixes: &[
            "install a valid certificate, or a Cloudflare Origin CA certificate (trusted by Cloudflare only)",
            "ssl_mode full would accept it — and would also accept an attacker's certificate",
        ],
        elsewhere: "nginx: 502 only with proxy_ssl_verify on (off by default → 200)",
        scenarios: &["ssl-strict-expired", "ssl-strict-self-signed", "ssl-strict-wrong-host"],
    },
    Explanation {
        code: 530,
        title: "Origin DNS error (Cloudflare, error 1016)",
        generated_by: "the Cloudflare tier resolving the origin",
        causes: &["the origin hostname does not resolve"],
        fixes: &["fix the DNS record the CDN uses for the origin"],
        elsewhere: "nginx-like profiles: 502 (host not found)",
        scenarios: &["origin-dns-failure"],
    },
];

/// How each code travels from the tier that generated it to the visitor, and when a cache
/// hides it.
const PROPAGATION: &[(u16, &str)] = &[
    (9, "The nginx L2 that got the non-HTTP reply relays the bytes as an HTTP/0.9 response (no \
         status line, no headers); the L1 relays that. Browsers and curl refuse it on a non-default \
         port, so the visitor sees a broken page rather than an error code. Not cached."),
    (403, "The origin answers 403 over a working connection. The L2 relays it, the L1 relays it: \
           the visitor gets 403 generated by the origin. Without freshness information it is not \
           cached; with Cache-Control it is cached like any response, so a brief block can outlive the fix."),
    (429, "The origin's rate limit answers 429 to the fetching L2; the L2 and the L1 relay it \
           unchanged. Caches hide it only for URLs they already hold: a hit never reaches the origin \
           and so never meets its limit. 429 is not cached by default."),
    (500, "The origin answers 500; both tiers pass it through unchanged and do not store it (no \
           profile caches a 5xx by default), so every request for that URL goes back to the failing \
           origin. A cache hides it only with stale-if-error and a stored copy."),
    (502, "The L2 whose connection to the origin failed generates 502; the L1 relays it (with \
           on_parent_error = next_parent an L1 first tries another L2). When the L1's own hop to its L2 \
           fails, the L1 generates it. Not cached unless proxy_cache_valid / status_ttl names 502; \
           stale-if-error serves a stored copy instead."),
    (503, "Usually generated by the origin (limit_req, limit_conn, a full queue) and passed through \
           both tiers. Fastly and Varnish profiles generate 503 themselves for every failed fetch. Only \
           requests that reach the origin can get it: cache hits hide it."),
    (504, "Generated by the tier whose wait runs out first and relayed by the tiers in front. The \
           L2 waits for the origin while the L1 waits for the L2: nginx uses the same 60 s at both and the \
           L1 started first, so by default an nginx L1 times out first and generates 504 itself, with \
           nothing in the L2's logs yet. stale-if-error covers 504."),
    (520, "The L2 that got the reset, the empty close or the garbage generates 520; the L1 relays it. \
           Not cached; Always Online and stale-if-error serve a stored copy instead."),
    (521, "The L2 whose connection was refused generates 521 at once (no wait); the L1 relays it. Not \
           cached. Cached URLs keep working (HIT), and stale copies are served with stale-if-error or \
           Always Online, so a dead origin first shows on uncached URLs."),
    (522, "The L2 whose SYN got no answer waits its connect timeout (19 s), then generates 522; the L1 \
           relays it after the same wait. With a pool where only some egress addresses are blocked, only \
           fetches that left from those addresses fail. Cache hits never connect, so they hide it."),
    (523, "The L2 that got ICMP host/network unreachable generates 523 at once; the L1 relays it. \
           Cache hits hide it."),
    (524, "The L2 waited its read timeout after sending the request (120 s), then generates 524; \
           the L1 relays it. The origin may still finish the work: the visitor just never sees it."),
    (525, "The L2 whose TLS handshake with the origin failed generates 525 at once; the L1 relays it. \
           Cache hits hide it."),
    (526, "The L2 that rejected the origin's certificate (strict modes only) generates 526; the L1 \
           relays it. In ssl_mode full the same certificate passes and visitors get 200."),
    (530, "The L2 that could not resolve the origin's hostname generates 530 (error 1016); the L1 \
           relays it. Cache hits hide it."),
];

/// How `code` travels from the tier that generates it to the visitor, if explained.
pub fn propagation(code: u16) -> Option<&'static str> {
    PROPAGATION
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, p)| *p)
}

/// The commands `explain` suggests for `e`: each runs a built-in scenario and traces the first
/// request that ended with `e.code`.
///
/// ```
/// let e = cdn_sim::explain::lookup(522).unwrap();
/// assert_eq!(cdn_sim::explain::commands(e)[0], "cdn-sim run firewall-drop --trace-status 522");
/// ```
pub fn commands(e: &Explanation) -> Vec<String> {
    e.scenarios
        .iter()
        .map(|sc| format!("cdn-sim run {sc} --trace-status {}", e.code))
        .collect()
}

/// The page about `code` under `docs/errors/`, for the codes that have one.
pub fn page(code: u16) -> Option<String> {
    crate::error_pages::CODES
        .contains(&code)
        .then(|| format!("docs/errors/{code}.md"))
}

/// The reason phrase of a status code as the status line carries it (the vendor's for
/// Cloudflare's 52x, RFC 9110's otherwise: [`cdn_core::profile::reason_phrase`]), or `""`.
pub fn reason_phrase(code: u16) -> &'static str {
    cdn_core::profile::reason_phrase(code).unwrap_or("")
}

/// The explanation for `code`, if there is one.
pub fn lookup(code: u16) -> Option<&'static Explanation> {
    ALL.iter().find(|e| e.code == code)
}

/// Every code that has an explanation.
pub fn codes() -> impl Iterator<Item = u16> {
    ALL.iter().map(|e| e.code)
}

/// The text `cdn-sim explain CODE` prints.
pub fn render(e: &Explanation) -> String {
    let mut s = format!(
        "{} {}\n\ngenerated by: {}\n\ncauses:\n",
        e.code, e.title, e.generated_by
    );
    for c in e.causes {
        s.push_str(&format!("  - {c}\n"));
    }
    s.push_str("\nfixes:\n");
    for f in e.fixes {
        s.push_str(&format!("  - {f}\n"));
    }
    s.push_str(&format!("\nelsewhere: {}\n", e.elsewhere));
    if let Some(p) = propagation(e.code) {
        s.push_str("\nhow it travels to the visitor:\n");
        s.push_str(&crate::report::wrap(p, 92, "  "));
        s.push('\n');
    }
    s.push_str("\nsee it happen (traces the first request that got it):\n");
    for c in commands(e) {
        s.push_str(&format!("  {c}\n"));
    }
    if let Some(p) = page(e.code) {
        s.push_str(&format!("\nmore, with a sequence diagram: {p}\n"));
    }
    s
}
