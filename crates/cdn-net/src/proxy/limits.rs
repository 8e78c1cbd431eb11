//! What a proxy allows its clients and keeps for its upstreams: the timeouts and caps that
//! keep a long-running `serve` bounded whatever the clients do.

use std::time::Duration;

/// Limits on a proxy's connections. The defaults are nginx's (`client_header_timeout` 60 s,
/// `keepalive_timeout` 75 s, upstream `keepalive_timeout` 60 s), as `cdn-sim serve` applies
/// them; the connection cap is chosen so that a proxy stays below the process's
/// file-descriptor limit. A proxy starts with [`ServeLimits::model`]: the model has no such
/// timeouts, and `run --mode net` is compared with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request head, from the connection's accept
    /// (first request) or from its first byte (later requests). Then the connection is
    /// closed, as nginx's `client_header_timeout` does.
    pub header_timeout: Option<Duration>,
    /// How long an idle keep-alive connection (between requests) stays open.
    pub keepalive_timeout: Option<Duration>,
    /// Client connections a proxy holds at once. One more is answered
    /// `503 Service Unavailable` (body: "too many connections") and closed.
    pub max_connections: usize,
    /// How long an idle pooled connection to the next tier is kept (`None`: until the
    /// proxy stops, as the model keeps its idle connections).
    pub upstream_idle: Option<Duration>,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            header_timeout: Some(Duration::from_secs(60)),
            keepalive_timeout: Some(Duration::from_secs(75)),
            max_connections: 4096,
            upstream_idle: Some(Duration::from_secs(60)),
        }
    }
}

impl ServeLimits {
    /// What the model does: no client timeouts, idle upstream connections kept; the cap
    /// stays (the model has no descriptors to run out of).
    pub fn model() -> ServeLimits {
        ServeLimits {
            header_timeout: None,
            keepalive_timeout: None,
            upstream_idle: None,
            ..ServeLimits::default()
        }
    }

    /// The defaults, with the connection cap lowered to fit `nofile` descriptors shared by
    /// `proxies` proxies: each client connection may hold one upstream connection too, and
    /// 64 are left for listeners, the origin and the runtime.
    ///
    /// ```
    /// use cdn_net::ServeLimits;
    /// assert_eq!(ServeLimits::for_fd_limit(1024, 2).max_connections, 240);
    /// assert_eq!(ServeLimits::for_fd_limit(1 << 20, 2).max_connections, 4096);
    /// ```
    pub fn for_fd_limit(nofile: u64, proxies: usize) -> ServeLimits {
        let per_proxy = nofile.saturating_sub(64) / (2 * proxies.max(1) as u64);
        let d = ServeLimits::default();
        ServeLimits {
            max_connections: d.max_connections.min(per_proxy.max(1) as usize),
            ..d
        }
    }

    /// [`ServeLimits::for_fd_limit`] with this process's soft `RLIMIT_NOFILE`.
    pub fn for_this_process(proxies: usize) -> ServeLimits {
        use nix::sys::resource::{getrlimit, Resource};
        match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, _)) => ServeLimits::for_fd_limit(soft, proxies),
            Err(_) => ServeLimits::default(),
        }
    }
}
