//! Every default of every profile, each beside its source: the vendor's sentence (with the
//! page or source file), or — where the vendor is silent — the words "not documented by the
//! vendor" and why the model picks the value it does. `docs/profiles.md` is generated from
//! this file ([`super::table`]), and a test keeps the two equal.

use super::source::{doc, undocumented, Bytes, Describe, Sourced};
use super::Profile;
use crate::cache::{DefaultFreshness, Eligibility, ErrorCaching, StaleOnError, UncacheablePolicy};
use crate::config::ParentErrorPolicy;
use crate::tls::SslMode;
use crate::upstream::{ParentWait, RetryOn, SynSchedule};
use serde::Serialize;
use std::time::Duration;

/// When a vendor sends an `Age` header to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeHeader {
    /// Never.
    Never,
    /// On every response (0 on a miss).
    Always,
    /// Only on responses served from its cache (not on a MISS, nor a lower tier's first fill).
    FromCache,
}

/// One row of the generated table: a default's key, what it means, its value and source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DefaultRow {
    /// The field (and, where there is one, the `[cdn]` scenario key that overrides it).
    pub key: &'static str,
    /// What the default governs.
    pub meaning: &'static str,
    /// The value, as the table writes it.
    pub value: String,
    /// Where it comes from.
    pub source: super::Source,
}

/// Declares [`ProfileDefaults`] and its table rows from one list, so a default cannot be
/// added without a row.
macro_rules! profile_defaults {
    ($( $field:ident : $ty:ty => $meaning:literal, )*) => {
        /// Every default of one profile, each with its [`Source`](super::Source).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        pub struct ProfileDefaults {
            $( #[doc = $meaning] pub $field: Sourced<$ty>, )*
        }

        impl ProfileDefaults {
            /// Every default as a table row, in declaration order.
            pub fn rows(&self) -> Vec<DefaultRow> {
                vec![$(DefaultRow {
                    key: stringify!($field),
                    meaning: $meaning,
                    value: self.$field.value.describe(),
                    source: self.$field.source,
                },)*]
            }
        }
    };
}

profile_defaults! {
    connect_timeout: Duration => "Per TCP connect attempt, L2 → origin and L1 → L2 (`connect_timeout`).",
    syn_schedule: SynSchedule => "When the SYNs of one connect attempt are (re)sent.",
    connect_attempts: u32 => "Attempts before giving up (`connect_attempts`).",
    retry_on: RetryOn => "Failures that earn another attempt (`retry_on`).",
    read_timeout: Duration => "Request sent → first response byte (`read_timeout`).",
    ack_timeout: Option<Duration> => "Connected, request never acknowledged → give up (`ack_timeout`); none: the read timeout fires.",
    write_timeout: Option<Duration> => "Between two writes of the request (`write_timeout`).",
    parent_wait: ParentWait => "How long an L1 waits for its L2 (`parent_read_timeout`).",
    response_header_limit: Option<Bytes> => "Largest response header accepted (`response_header_limit`).",
    ssl_mode: SslMode => "How the edge connects to the origin and whether it verifies the certificate (`ssl_mode`).",
    on_parent_error: ParentErrorPolicy => "What an L1 does when its L2 fails (`on_parent_error`).",
    reroute_on_parent_5xx: bool => "Whether an L2's own 5xx counts as a failed parent (`reroute_on_parent_5xx`).",
    eligibility: Eligibility => "Which requests may be cached at all (`cache_eligibility`).",
    default_freshness: DefaultFreshness => "Lifetime without max-age, s-maxage or Expires (`status_ttl` overrides per status).",
    storable_statuses: Option<&'static [u16]> => "The only statuses ever stored, whatever the headers say.",
    error_caching: Option<ErrorCaching> => "Rules for caching the origin's errors.",
    no_cache_stored: bool => "Whether `no-cache` responses are stored (and revalidated) or not stored.",
    collapse: bool => "Request collapsing: concurrent misses wait for one fetch (`collapse`).",
    collapse_timeout: Duration => "How long a collapsed request waits before going upstream itself (`collapse_timeout`).",
    collapse_age: Duration => "After this long, one more request may go upstream (`collapse_age`).",
    collapse_uncacheable: UncacheablePolicy => "What waiters do after an uncacheable answer (`collapse_uncacheable`).",
    stale_while_revalidate: bool => "Honour `stale-while-revalidate` (`stale_while_revalidate`).",
    background_update: bool => "Revalidate in the background; off: the request that finds the copy stale waits (`background_update`).",
    grace: Duration => "Stale window without `stale-while-revalidate`, while one request refreshes (`grace`).",
    stale_if_error: bool => "Honour `stale-if-error` (`stale_if_error`).",
    stale_on_error: StaleOnError => "Stale copies served on upstream errors without a directive (`stale_on_error`).",
    age_header: AgeHeader => "When the client gets an `Age` header.",
}

// ----- sources -----------------------------------------------------------------------------

const CF_LIMITS: &str =
    "https://developers.cloudflare.com/fundamentals/reference/connection-limits/";
const CF_522: &str = "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-522/";
const CF_520: &str = "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-520/";
const CF_CC: &str = "https://developers.cloudflare.com/cache/concepts/cache-control/";
const CF_REVAL: &str = "https://developers.cloudflare.com/cache/concepts/revalidation/";
const CF_RESP: &str = "https://developers.cloudflare.com/cache/concepts/cache-responses/";
const CF_TTL: &str = "https://developers.cloudflare.com/cache/how-to/configure-cache-status-code/";
const CF_DEFAULT: &str = "https://developers.cloudflare.com/cache/concepts/default-cache-behavior/";

const NGX: &str = "https://nginx.org/en/docs/http/ngx_http_proxy_module.html";
const NGX_UPSTREAM_C: &str =
    "https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream.c";
const TCP7: &str = "https://man7.org/linux/man-pages/man7/tcp.7.html";

const ALI_TIMEOUT: &str = "https://www.alibabacloud.com/help/en/cdn/user-guide/configure-a-timeout-period-for-back-to-origin-http-requests";
const ALI_TIMEOUT_JA: &str = "https://www.alibabacloud.com/help/ja/alibaba-cloud-cdn/latest/set-a-timeout-period-for-back-to-origin-requests";
const ALI_TTL_JA: &str = "https://alibabacloud.com/help/ja/cdn/user-guide/specify-a-ttl-value-for-pops-when-using-alibaba-cloud-cdn-to-accelerate-the-delivery-of-static-content";
const ALI_EXPIRY: &str =
    "https://help.aliyun.com/en/cdn/user-guide/configure-the-cdn-cache-expiration-time";
const ALI_503: &str = "http://developer.aliyun.com/article/752482";

const CFR_ORIGIN: &str =
    "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_Origin.html";
const CFR_CUSTOM_ORIGIN: &str =
    "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CustomOriginConfig.html";
const CFR_BEHAVIOR: &str = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html";
const CFR_502: &str =
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html";
const CFR_ERRORS: &str =
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HTTPStatusCodes.html";
const CFR_EXPIRATION: &str =
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html";
const CFR_STALE_NEWS: &str = "https://aws.amazon.com/about-aws/whats-new/2023/05/amazon-cloudfront-stale-while-revalidate-stale-if-error-cache-control-directives/";

const FASTLY_TF: &str =
    "https://registry.terraform.io/providers/fastly/fastly/latest/docs/resources/service_vcl";
const FASTLY_FBT: &str = "https://www.fastly.com/documentation/reference/vcl/variables/backend-connection/bereq-first-byte-timeout/";
const FASTLY_BACKEND_MODEL: &str =
    "https://github.com/fastly/fastly-js/blob/main/src/model/Backend.js";
const FASTLY_CONTROL: &str =
    "https://www.fastly.com/documentation/guides/full-site-delivery/caching/controlling-caching";
const FASTLY_CACHEABLE: &str = "https://www.fastly.com/documentation/reference/vcl/variables/backend-response/beresp-cacheable/";
const FASTLY_COLLAPSE: &str =
    "https://www.fastly.com/documentation/guides/concepts/cache/request-collapsing/";
const FASTLY_SWR: &str = "https://www.fastly.com/documentation/reference/vcl/variables/backend-response/beresp-stale-while-revalidate/";
const FASTLY_STALE: &str =
    "https://www.fastly.com/documentation/solutions/tutorials/full-site-delivery/serving-stale/";
const FASTLY_SERVE_STALE: &str = "https://www.fastly.com/documentation/guides/full-site-delivery/performance/serving-stale-content";

const VARNISH_PARAMS: &str =
    "https://github.com/varnishcache/varnish-cache/blob/master/include/tbl/params.h";
const VARNISH_RFC2616: &str =
    "https://github.com/varnishcache/varnish-cache/blob/master/bin/varnishd/cache/cache_rfc2616.c";
const VARNISH_BUILTIN: &str =
    "https://github.com/varnishcache/varnish-cache/blob/master/bin/varnishd/builtin.vcl";
const VARNISH_VCL_VAR: &str = "https://varnish-cache.org/docs/trunk/reference/vcl-var.html";

const LINUX_SYN: &str =
    "assumed to be Linux's: an initial retransmission timeout of 1 s (RFC 6298 §2.1), \
     doubling, tcp_syn_retries = 6 (tcp(7))";
const NEUTRAL_RELAY: &str =
    "no failover between parent tiers is documented; the L1 relays its parent's answer";
const NEUTRAL_OUTLAST: &str = "the wait of the lower tier for the upper is not documented; the \
     model lets every timeout of the upper tier end first";
const NGINX_LOCK_TIMES: &str = "nginx's proxy_cache_lock_timeout / proxy_cache_lock_age (5 s), for want of the vendor's figure";

// ----- the profiles ------------------------------------------------------------------------

/// `n` seconds.
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Statuses RFC 9110 §15.1 calls heuristically cacheable, minus the errors: what Alibaba's
/// Last-Modified rule applies to (the vendor does not say).
const HEURISTIC_NON_ERRORS: &[u16] = &[200, 203, 204, 206, 300, 301, 308];

impl Profile {
    /// Every default of this profile, each with its source.
    ///
    /// ```
    /// use cdn_core::Profile;
    /// use std::time::Duration;
    /// let d = Profile::Cloudflare.defaults();
    /// assert_eq!(d.read_timeout.value, Duration::from_secs(120));
    /// assert_eq!(d.ack_timeout.value, Some(Duration::from_secs(90)));
    /// assert!(d.read_timeout.source.is_documented());
    /// assert!(!Profile::Nginx.defaults().collapse.value); // proxy_cache_lock off
    /// ```
    pub fn defaults(self) -> ProfileDefaults {
        match self {
            Profile::Cloudflare => cloudflare(),
            Profile::Nginx => nginx(),
            Profile::Alibaba => alibaba(),
            Profile::Cloudfront => cloudfront(),
            Profile::Fastly => fastly(),
            Profile::Varnish => varnish(),
            Profile::Rfc9111 => rfc9111(),
        }
    }
}

fn cloudflare() -> ProfileDefaults {
    ProfileDefaults {
        connect_timeout: doc(
            secs(19),
            CF_LIMITS,
            "Complete TCP Connection | 19 | 522 | No",
        ),
        syn_schedule: doc(
            SynSchedule::Listed(&[1, 1, 1, 1, 1, 2, 4, 8]),
            CF_522,
            "the origin web server does not return a SYN+ACK to Cloudflare within 19 seconds of \
             Cloudflare sending a SYN (the SYN retry backoff scheme is 1,1,1,1,1,2,4,8)",
        ),
        connect_attempts: undocumented(
            1,
            "the 522 page describes one 19 s handshake, its SYNs retransmitted within it; no \
             second connection is documented",
        ),
        retry_on: undocumented(RetryOn::CONNECT, "with one attempt nothing is retried"),
        read_timeout: doc(secs(120), CF_LIMITS, "Proxy Read Timeout | 120 | 524 | Yes"),
        ack_timeout: doc(
            Some(secs(90)),
            CF_522,
            "After a connection is established, the origin web server does not acknowledge \
             (ACK) Cloudflare's resource request within 90 seconds.",
        ),
        write_timeout: doc(
            Some(secs(30)),
            CF_LIMITS,
            "Proxy Write Timeout | 30 | 524 | No",
        ),
        parent_wait: undocumented(ParentWait::OutlastParent, NEUTRAL_OUTLAST),
        response_header_limit: doc(
            Some(Bytes(128 * 1024)),
            CF_520,
            "Headers exceeding 128 KB (often due to excessive cookies).",
        ),
        ssl_mode: undocumented(
            SslMode::Full,
            "the default is Automatic SSL/TLS, which probes the origin and picks the most \
             secure mode that works; the model fixes Full, whose origin certificate \
             \"will not be validated in any way\" (ssl-modes/full)",
        ),
        on_parent_error: undocumented(ParentErrorPolicy::Relay, NEUTRAL_RELAY),
        reroute_on_parent_5xx: undocumented(true, "only matters with next_parent or go_direct"),
        eligibility: doc(
            Eligibility::StaticExtensions,
            CF_DEFAULT,
            "Cloudflare only caches based on file extension and not by MIME type. The \
             Cloudflare CDN does not cache HTML by default.",
        ),
        default_freshness: doc(
            DefaultFreshness::ByStatus(&[
                (&[200, 206, 301], 7200),
                (&[302, 303], 1200),
                (&[404, 410], 180),
            ]),
            CF_TTL,
            "By default, Cloudflare caches certain HTTP response codes with the following Edge \
             Cache TTL when a cache-control directive or expires response header are not present.",
        ),
        storable_statuses: undocumented(
            None,
            "any status with explicit freshness is cached (\"Cloudflare does cache the resource \
             when the Cache-Control header is set to public and max-age is greater than 0\")",
        ),
        error_caching: doc(
            None,
            CF_TTL,
            "All other status codes are not cached by default.",
        ),
        no_cache_stored: doc(
            true,
            CF_CC,
            "When setting no-cache with Origin Cache Control on, Cloudflare caches and always \
             revalidates.",
        ),
        collapse: undocumented(
            true,
            "collapsing of concurrent misses is not documented; the model collapses (Pingora, \
             Cloudflare's proxy framework, has a cache lock)",
        ),
        collapse_timeout: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_age: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_uncacheable: undocumented(UncacheablePolicy::OneAtATime, "as nginx's cache lock"),
        stale_while_revalidate: doc(
            true,
            CF_REVAL,
            "If the directive is present and the asset is within the allowed staleness window, \
             Cloudflare serves the expired content to visitors and revalidates in the background.",
        ),
        background_update: doc(
            true,
            CF_REVAL,
            "That request immediately receives stale content with an UPDATING status instead of \
             blocking until the origin responds.",
        ),
        grace: doc(
            Duration::ZERO,
            CF_REVAL,
            "Cloudflare only serves stale content during revalidation if your origin includes \
             the stale-while-revalidate directive in its Cache-Control header.",
        ),
        stale_if_error: doc(
            true,
            CF_CC,
            "stale-if-error=<seconds> — Indicates that when an error is encountered, a cached \
             stale response may be used to satisfy the request, regardless of other freshness \
             information.",
        ),
        stale_on_error: doc(
            StaleOnError::Unreachable,
            CF_CC,
            "To avoid this behavior, include stale-if-error=0 directive with the object returned \
             from the origin.",
        ),
        age_header: doc(
            AgeHeader::FromCache,
            CF_RESP,
            "The Age header is only present for responses served from the cache.",
        ),
    }
}

fn nginx() -> ProfileDefaults {
    ProfileDefaults {
        connect_timeout: doc(secs(60), NGX, "Default: proxy_connect_timeout 60s;"),
        syn_schedule: doc(
            SynSchedule::LINUX,
            TCP7,
            "The default value is 6, which corresponds to retrying for up to approximately 127 \
             seconds.",
        ),
        connect_attempts: undocumented(
            1,
            "one upstream server: proxy_next_upstream passes a request to the next server, and \
             there is none",
        ),
        retry_on: undocumented(RetryOn::CONNECT, "with one attempt nothing is retried"),
        read_timeout: doc(secs(60), NGX, "Default: proxy_read_timeout 60s;"),
        ack_timeout: doc(
            None,
            NGX,
            "The timeout is set only between two successive read operations, not for the \
             transmission of the whole response.",
        ),
        write_timeout: doc(Some(secs(60)), NGX, "Default: proxy_send_timeout 60s;"),
        parent_wait: doc(
            ParentWait::SameAsRead,
            NGX,
            "Default: proxy_read_timeout 60s;",
        ),
        response_header_limit: doc(
            Some(Bytes(4 * 1024)),
            NGX,
            "By default, the buffer size is equal to one memory page. This is either 4K or 8K, \
             depending on a platform.",
        ),
        ssl_mode: doc(SslMode::Full, NGX, "Default: proxy_ssl_verify off;"),
        on_parent_error: doc(
            ParentErrorPolicy::NextParent,
            NGX,
            "Default: proxy_next_upstream error timeout;",
        ),
        reroute_on_parent_5xx: doc(
            false,
            NGX,
            "The cases of http_500, http_502, http_503, http_504, and http_429 are considered \
             unsuccessful attempts only if they are specified in the directive.",
        ),
        eligibility: doc(
            Eligibility::Everything,
            NGX,
            "Default: proxy_cache_methods GET HEAD;",
        ),
        default_freshness: doc(
            DefaultFreshness::ByStatus(&[]),
            NGX,
            "Parameters of caching can also be set directly in the response header. This has \
             higher priority than setting of caching time using the directive.",
        ),
        storable_statuses: undocumented(None, "any status with explicit freshness is cached"),
        error_caching: undocumented(
            None,
            "errors follow the ordinary rules: cached only where proxy_cache_valid names them",
        ),
        no_cache_stored: doc(
            false,
            NGX_UPSTREAM_C,
            "if (ngx_strlcasestrn(p, last, (u_char *) \"no-cache\", 8 - 1) != NULL … \
             { u->cacheable = 0;",
        ),
        collapse: doc(false, NGX, "Default: proxy_cache_lock off;"),
        collapse_timeout: doc(secs(5), NGX, "Default: proxy_cache_lock_timeout 5s;"),
        collapse_age: doc(secs(5), NGX, "Default: proxy_cache_lock_age 5s;"),
        collapse_uncacheable: doc(
            UncacheablePolicy::OneAtATime,
            NGX,
            "When enabled, only one request at a time will be allowed to populate a new cache \
             element identified according to the proxy_cache_key directive by passing a \
             request to a proxied server.",
        ),
        stale_while_revalidate: doc(
            true,
            NGX,
            "The “stale-while-revalidate” extension of the “Cache-Control” header field permits \
             using a stale cached response if it is currently being updated.",
        ),
        background_update: doc(false, NGX, "Default: proxy_cache_background_update off;"),
        grace: doc(Duration::ZERO, NGX, "Default: proxy_cache_use_stale off;"),
        stale_if_error: doc(
            true,
            NGX,
            "The “stale-if-error” extension of the “Cache-Control” header field permits using a \
             stale cached response in case of an error.",
        ),
        stale_on_error: doc(
            StaleOnError::Directive,
            NGX,
            "Default: proxy_cache_use_stale off;",
        ),
        age_header: undocumented(
            AgeHeader::Never,
            "nginx adds no Age header to what it serves from its cache",
        ),
    }
}

const RFC9111: &str = "https://www.rfc-editor.org/rfc/rfc9111";

/// RFC 9111 as written, for a shared cache; timeouts and connection handling (which the
/// RFC leaves open) as nginx's.
fn rfc9111() -> ProfileDefaults {
    let n = nginx();
    ProfileDefaults {
        eligibility: doc(
            Eligibility::Everything,
            RFC9111,
            "§3: the request method is understood by the cache",
        ),
        default_freshness: doc(
            DefaultFreshness::Heuristic {
                percent: 10,
                statuses: &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501],
            },
            RFC9111,
            "§4.2.2: if the response has a Last-Modified header field, caches are encouraged to \
             use a heuristic expiration value that is no more than some fraction of the interval \
             since that time. A typical setting of this fraction might be 10%.",
        ),
        storable_statuses: doc(
            None,
            RFC9111,
            "§3: the response status code is final … and the response contains … a max-age \
             response directive … or an Expires header field … or a status code that is \
             defined as heuristically cacheable",
        ),
        error_caching: doc(None, RFC9111, "errors follow the ordinary rules (§3)"),
        no_cache_stored: doc(
            true,
            RFC9111,
            "§5.2.2.4: the no-cache response directive … indicates that the response MUST NOT \
             be used to satisfy any other request without forwarding it for validation",
        ),
        collapse: doc(
            false,
            RFC9111,
            "request collapsing is not part of the standard",
        ),
        stale_while_revalidate: doc(
            false,
            RFC9111,
            "stale-while-revalidate is RFC 5861, not RFC 9111",
        ),
        background_update: doc(false, RFC9111, "no background revalidation (§4.3)"),
        grace: doc(
            Duration::ZERO,
            RFC9111,
            "§4.2.4: a cache MUST NOT generate a stale response unless it is disconnected or \
             doing so is explicitly permitted",
        ),
        stale_if_error: doc(false, RFC9111, "stale-if-error is RFC 5861, not RFC 9111"),
        stale_on_error: doc(
            StaleOnError::Directive,
            RFC9111,
            "§4.2.4: a cache MUST NOT generate a stale response unless it is disconnected or \
             doing so is explicitly permitted",
        ),
        age_header: doc(
            AgeHeader::Always,
            RFC9111,
            "§5.1: a cache SHOULD generate an Age header field when serving from cache (and \
             it forwards the Age it received)",
        ),
        response_header_limit: undocumented(None, "the RFC sets no header limit"),
        ..n
    }
}

fn alibaba() -> ProfileDefaults {
    ProfileDefaults {
        connect_timeout: doc(
            secs(10),
            ALI_TIMEOUT_JA,
            "デフォルトでは、POPと配信元サーバー間のTCP接続を確立するために必要なタイムアウト時間は10秒です。",
        ),
        syn_schedule: undocumented(SynSchedule::LINUX, LINUX_SYN),
        connect_attempts: undocumented(
            1,
            "\"Retries are performed at the IP address level\": the model's origin has one \
             address, so one attempt",
        ),
        retry_on: doc(
            RetryOn {
                connect_failure: true,
                response_timeout: true,
                server_error: true,
            },
            ALI_TIMEOUT_JA,
            "CDN POPは、オリジンサーバーからHTTP 5xxステータスコードを受信すると、再試行リクエストを送信します。",
        ),
        read_timeout: doc(secs(30), ALI_TIMEOUT, "The default timeout is 30 seconds."),
        ack_timeout: undocumented(None, "no ACK timeout is documented: the read timeout fires"),
        write_timeout: doc(
            Some(secs(30)),
            ALI_TIMEOUT_JA,
            "デフォルトでは、オリジン書き込みタイムアウトは30秒です。",
        ),
        parent_wait: undocumented(ParentWait::OutlastParent, NEUTRAL_OUTLAST),
        response_header_limit: undocumented(None, "no response-header limit is documented"),
        ssl_mode: undocumented(
            SslMode::Full,
            "origin certificate verification is not documented as on by default; the model \
             does not verify",
        ),
        on_parent_error: undocumented(ParentErrorPolicy::Relay, NEUTRAL_RELAY),
        reroute_on_parent_5xx: undocumented(true, "only matters with next_parent or go_direct"),
        eligibility: undocumented(Eligibility::Everything, "every GET/HEAD may be cached"),
        default_freshness: doc(
            DefaultFreshness::LastModified {
                percent: 10,
                min: secs(10),
                max: secs(3600),
                statuses: HEURISTIC_NON_ERRORS,
            },
            ALI_TTL_JA,
            "t1 = (Curtime - Last_Modified) * 0.1 … t2 = max(10、t1) … t = min(t2,3600)",
        ),
        storable_statuses: undocumented(None, "any status with explicit freshness is cached"),
        error_caching: undocumented(None, "errors follow the ordinary rules"),
        no_cache_stored: doc(
            false,
            ALI_EXPIRY,
            "CDN does not cache resources if the origin server responds with pragma:no-cache, \
             cache-control:no-cache (or no-store, or max-age=0).",
        ),
        collapse: undocumented(true, "collapsing is not documented; the model collapses"),
        collapse_timeout: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_age: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_uncacheable: undocumented(UncacheablePolicy::OneAtATime, "as nginx's cache lock"),
        stale_while_revalidate: undocumented(true, "the RFC 5861 directive is honoured"),
        background_update: undocumented(true, "stale copies are revalidated in the background"),
        grace: undocumented(Duration::ZERO, "no stale window without a directive"),
        stale_if_error: undocumented(true, "the RFC 5861 directive is honoured"),
        stale_on_error: undocumented(StaleOnError::Directive, "only the directive's window"),
        age_header: doc(
            AgeHeader::Always,
            ALI_503,
            "HTTP/1.1 503 Service Temporarily Unavailable … X-Swift-Error: forward no peer valid \
             Age: 0",
        ),
    }
}

fn cloudfront() -> ProfileDefaults {
    ProfileDefaults {
        connect_timeout: doc(
            secs(10),
            CFR_ORIGIN,
            "The number of seconds that CloudFront waits when trying to establish a connection \
             to the origin. The minimum timeout is 1 second, the maximum is 10 seconds, and the \
             default (if you don't specify otherwise) is 10 seconds.",
        ),
        syn_schedule: undocumented(SynSchedule::LINUX, LINUX_SYN),
        connect_attempts: doc(
            3,
            CFR_ORIGIN,
            "The number of times that CloudFront attempts to connect to the origin. The minimum \
             number is 1, the maximum is 3, and the default (if you don't specify otherwise) is 3.",
        ),
        retry_on: doc(
            RetryOn {
                connect_failure: true,
                response_timeout: true,
                server_error: false,
            },
            CFR_ORIGIN,
            "For a custom origin (including an Amazon S3 bucket that's configured with static \
             website hosting), this value also specifies the number of times that CloudFront \
             attempts to get a response from the origin, in the case of an Origin Response \
             Timeout.",
        ),
        read_timeout: doc(
            secs(30),
            CFR_CUSTOM_ORIGIN,
            "The default origin read timeout is 30 seconds.",
        ),
        ack_timeout: undocumented(None, "no ACK timeout is documented: the read timeout fires"),
        write_timeout: undocumented(None, "no write timeout is documented"),
        parent_wait: undocumented(ParentWait::OutlastParent, NEUTRAL_OUTLAST),
        response_header_limit: undocumented(
            None,
            "no origin response-header limit was found in the documentation",
        ),
        ssl_mode: doc(
            SslMode::Strict,
            CFR_502,
            "If the origin server returns the following, CloudFront drops the TCP connection, \
             returns HTTP status code 502 (Bad Gateway), and sets the X-Cache header to Error \
             from cloudfront: An expired certificate, Invalid certificate, Self-signed \
             certificate, Certificate chain in the wrong order",
        ),
        on_parent_error: undocumented(ParentErrorPolicy::Relay, NEUTRAL_RELAY),
        reroute_on_parent_5xx: undocumented(true, "only matters with next_parent or go_direct"),
        eligibility: doc(
            Eligibility::Everything,
            CFR_BEHAVIOR,
            "CloudFront always caches responses to GET and HEAD requests.",
        ),
        default_freshness: doc(
            DefaultFreshness::ByStatus(&[(
                &[200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303],
                86_400,
            )]),
            CFR_EXPIRATION,
            "If you opt out of using a cache policy, the default TTL (Time to Live) is 24 hours",
        ),
        storable_statuses: undocumented(None, "any status with explicit freshness is cached"),
        error_caching: doc(
            Some(ErrorCaching {
                min_ttl: secs(10),
                always: &[404, 405, 414, 500, 501, 502, 503, 504],
                with_max_age: &[400, 403, 412, 415],
                never: &[416],
            }),
            CFR_ERRORS,
            "CloudFront always caches the following HTTP 4xx and 5xx status codes returned by \
             your origin.",
        ),
        no_cache_stored: undocumented(true, "stored and revalidated, as RFC 9111 says"),
        collapse: doc(
            true,
            CFR_BEHAVIOR,
            "If there's a traffic spike—if additional requests for the same object arrive at \
             the edge location before your origin responds to the first request—CloudFront \
             pauses briefly before forwarding additional requests for the object to your origin.",
        ),
        collapse_timeout: undocumented(secs(5), "\"pauses briefly\": how long is not documented"),
        collapse_age: undocumented(secs(5), "\"pauses briefly\": how long is not documented"),
        collapse_uncacheable: undocumented(UncacheablePolicy::OneAtATime, "as nginx's cache lock"),
        stale_while_revalidate: doc(
            true,
            CFR_STALE_NEWS,
            "Amazon CloudFront announces support for stale-while-revalidate and stale-if-error \
             cache control directives",
        ),
        background_update: doc(
            true,
            CFR_STALE_NEWS,
            "The stale-while-revalidate directive instructs CloudFront to immediately deliver \
             stale responses to users while it revalidates caches in the background.",
        ),
        grace: undocumented(Duration::ZERO, "no stale window without a directive"),
        stale_if_error: doc(
            true,
            CFR_STALE_NEWS,
            "Amazon CloudFront announces support for stale-while-revalidate and stale-if-error \
             cache control directives",
        ),
        stale_on_error: doc(
            StaleOnError::ServerError,
            CFR_ERRORS,
            "If your origin returns a 5xx error code, CloudFront serves the object even though \
             it has expired.",
        ),
        age_header: undocumented(AgeHeader::FromCache, "Age on responses from its cache"),
    }
}

fn fastly() -> ProfileDefaults {
    ProfileDefaults {
        connect_timeout: doc(
            Duration::from_millis(1000),
            FASTLY_TF,
            "How long to wait for a timeout in milliseconds. Default `1000`",
        ),
        syn_schedule: undocumented(SynSchedule::LINUX, LINUX_SYN),
        connect_attempts: undocumented(1, "no connect retry is documented"),
        retry_on: undocumented(RetryOn::CONNECT, "with one attempt nothing is retried"),
        read_timeout: doc(secs(15), FASTLY_FBT, "By default, the timeout is 15s."),
        ack_timeout: undocumented(None, "no ACK timeout is documented: the read timeout fires"),
        write_timeout: undocumented(None, "no write timeout is documented"),
        parent_wait: doc(
            ParentWait::SameAsRead,
            FASTLY_FBT,
            "The timeout between POPs in a shielding arrangement is affected by the settings in \
             each case, since the full VCL configuration will be executed at each POP separately.",
        ),
        response_header_limit: undocumented(None, "no response-header limit is documented"),
        ssl_mode: doc(
            SslMode::Strict,
            FASTLY_BACKEND_MODEL,
            "Be strict on checking SSL certs. @member {Boolean} ssl_check_cert @default true",
        ),
        on_parent_error: undocumented(ParentErrorPolicy::Relay, NEUTRAL_RELAY),
        reroute_on_parent_5xx: undocumented(true, "only matters with next_parent or go_direct"),
        eligibility: undocumented(Eligibility::Everything, "every GET/HEAD may be cached"),
        default_freshness: doc(
            DefaultFreshness::ByStatus(&[(&[200, 203, 300, 301, 302, 404, 410], 3600)]),
            FASTLY_CONTROL,
            "If you haven't specified the TTL in the Fastly control panel or custom VCL and you \
             haven't set the Surrogate-Control: max-age, Cache-Control: max-age, or Expires \
             headers, the TTL is 3600 seconds.",
        ),
        storable_statuses: doc(
            Some(&[200, 203, 300, 301, 302, 404, 410]),
            FASTLY_CACHEABLE,
            "Any other response status will result in beresp.cacheable being set to false.",
        ),
        error_caching: undocumented(None, "errors follow the ordinary rules"),
        no_cache_stored: undocumented(true, "stored and revalidated, as RFC 9111 says"),
        collapse: doc(
            true,
            FASTLY_COLLAPSE,
            "By default, cache misses will qualify for request collapsing in both VCL and \
             Compute services, when using the readthrough or simple cache interfaces.",
        ),
        collapse_timeout: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_age: undocumented(secs(5), NGINX_LOCK_TIMES),
        collapse_uncacheable: doc(
            UncacheablePolicy::All,
            FASTLY_COLLAPSE,
            "If a large number of client requests are waiting on a single backend request, and \
             the response from the backend turns out to be non-cacheable (e.g. because it is \
             private to a single user), each of the queued requests must then be sent to the \
             backend independently.",
        ),
        stale_while_revalidate: doc(
            true,
            FASTLY_SWR,
            "By default the value of beresp.stale_while_revalidate will be parsed from the \
             stale-while-revalidate value in the Surrogate-Control or Cache-Control headers \
             received from the backend.",
        ),
        background_update: doc(
            true,
            FASTLY_SERVE_STALE,
            "Fastly can be configured to show the stale content while the new content is \
             fetched in the background.",
        ),
        grace: undocumented(Duration::ZERO, "no stale window without a directive"),
        stale_if_error: doc(
            false,
            FASTLY_STALE,
            "Content will sometimes be served by Fastly even though it is stale, such as during \
             a stale-while-revalidate window, or if an origin is sick and stale-if-error is set.",
        ),
        stale_on_error: doc(
            StaleOnError::Directive,
            FASTLY_SERVE_STALE,
            "These features are not enabled by default.",
        ),
        age_header: undocumented(AgeHeader::Always, "Age on every response, 0 on a miss"),
    }
}

fn varnish() -> ProfileDefaults {
    const FIRST_BYTE: &str = "Default timeout for receiving first byte from backend. We only \
         wait for this many seconds for the first byte before giving up.";
    const SWR_ONLY: &str = "RFC5861 outlines a way to control the use of stale responses. We \
         use this to initialize the grace period.";
    ProfileDefaults {
        connect_timeout: doc(
            Duration::from_millis(3500),
            VARNISH_PARAMS,
            "Default connection timeout for backend connections. We only try to connect to the \
             backend for this many seconds before giving up.",
        ),
        syn_schedule: doc(
            SynSchedule::LINUX,
            TCP7,
            "The default value is 6, which corresponds to retrying for up to approximately 127 \
             seconds.",
        ),
        connect_attempts: undocumented(1, "one backend, one attempt"),
        retry_on: undocumented(RetryOn::CONNECT, "with one attempt nothing is retried"),
        read_timeout: doc(secs(60), VARNISH_PARAMS, FIRST_BYTE),
        ack_timeout: undocumented(None, "no ACK timeout: the first-byte timeout fires"),
        write_timeout: undocumented(None, "no backend write timeout"),
        parent_wait: doc(ParentWait::SameAsRead, VARNISH_PARAMS, FIRST_BYTE),
        response_header_limit: doc(
            Some(Bytes(32 * 1024)),
            VARNISH_PARAMS,
            "Maximum number of bytes of HTTP backend response we will deal with.  This is a \
             limit on all bytes up to the double blank line which ends the HTTP response.",
        ),
        ssl_mode: undocumented(
            SslMode::Full,
            "Varnish Cache has no TLS toward backends; the model treats a TLS terminator in \
             front of the backend as unverified",
        ),
        on_parent_error: undocumented(ParentErrorPolicy::Relay, NEUTRAL_RELAY),
        reroute_on_parent_5xx: undocumented(true, "only matters with next_parent or go_direct"),
        eligibility: undocumented(Eligibility::Everything, "every GET/HEAD may be cached"),
        default_freshness: doc(
            DefaultFreshness::ByStatus(&[(&[200, 203, 204, 300, 301, 304, 404, 410, 414], 120)]),
            VARNISH_PARAMS,
            "The TTL assigned to objects if neither the backend nor the VCL code assigns one.",
        ),
        storable_statuses: doc(
            Some(&[200, 203, 204, 300, 301, 302, 304, 307, 404, 410, 414]),
            VARNISH_RFC2616,
            "Do not apply the default ttl, only set a ttl if Cache-Control or Expires are \
             present. Uncacheable otherwise.",
        ),
        error_caching: undocumented(None, "errors follow the ordinary rules"),
        no_cache_stored: doc(
            false,
            VARNISH_BUILTIN,
            "beresp.http.Cache-Control ~ \"(?i:no-cache|no-store|private)\"",
        ),
        collapse: doc(
            true,
            VARNISH_VCL_VAR,
            "req.hash_ignore_busy … Ignore any busy object during cache lookup.",
        ),
        collapse_timeout: undocumented(
            secs(60),
            "the waiting list has no timeout of its own; the model waits first_byte_timeout",
        ),
        collapse_age: undocumented(
            secs(60),
            "the waiting list has no timeout of its own; the model waits first_byte_timeout",
        ),
        collapse_uncacheable: doc(
            UncacheablePolicy::All,
            VARNISH_BUILTIN,
            "# Mark as \"Hit-For-Miss\" for the next 2 minutes",
        ),
        stale_while_revalidate: doc(true, VARNISH_RFC2616, SWR_ONLY),
        background_update: doc(
            true,
            VARNISH_PARAMS,
            "We will deliver an object this long after it has expired, provided another thread \
             is attempting to get a new copy.",
        ),
        grace: doc(
            secs(10),
            VARNISH_PARAMS,
            "Default grace period.  We will deliver an object this long after it has expired, \
             provided another thread is attempting to get a new copy.",
        ),
        stale_if_error: doc(false, VARNISH_RFC2616, SWR_ONLY),
        stale_on_error: undocumented(
            StaleOnError::Directive,
            "no stale serving on errors beyond the grace window",
        ),
        age_header: undocumented(AgeHeader::Always, "Age on every response, 0 on a miss"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ALL_PROFILES;

    #[test]
    fn every_row_has_a_source_and_a_meaning() {
        for p in ALL_PROFILES {
            for row in p.defaults().rows() {
                assert!(!row.meaning.is_empty(), "{p} {}", row.key);
                match row.source {
                    crate::profile::Source::Documented { url, quote } => {
                        assert!(url.starts_with("http"), "{p} {}: {url}", row.key);
                        assert!(quote.len() > 5, "{p} {}: quote", row.key);
                    }
                    crate::profile::Source::Measured { url, how } => {
                        assert!(
                            url.starts_with("http") && !how.is_empty(),
                            "{p} {}",
                            row.key
                        )
                    }
                    crate::profile::Source::Undocumented { why } => {
                        assert!(why.len() > 5, "{p} {}: why", row.key)
                    }
                }
            }
        }
    }

    #[test]
    fn the_issue_s_discrepancies_are_the_documented_values() {
        let cf = Profile::Cloudflare.defaults();
        assert_eq!(cf.read_timeout.value, secs(120));
        assert_eq!(cf.ack_timeout.value, Some(secs(90)));
        assert_eq!(cf.response_header_limit.value, Some(Bytes(128 * 1024)));
        let nginx = Profile::Nginx.defaults();
        assert!(!nginx.collapse.value);
        assert!(!nginx.background_update.value);
        assert_eq!(nginx.on_parent_error.value, ParentErrorPolicy::NextParent);
        assert_eq!(nginx.parent_wait.value, ParentWait::SameAsRead);
        assert_eq!(
            Profile::Cloudfront.defaults().ssl_mode.value,
            SslMode::Strict
        );
        assert_eq!(Profile::Fastly.defaults().ssl_mode.value, SslMode::Strict);
        assert!(!Profile::Fastly.defaults().stale_if_error.value);
        assert_eq!(Profile::Varnish.defaults().grace.value, secs(10));
    }
}
