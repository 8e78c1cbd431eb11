//! An in-process DNS: hostname → origin address and the ports that play 80 and 443.
//!
//! Real DNS would need a real name server; on loopback the ports of an origin are ephemeral
//! anyway, so a proxy asks this map instead. A name that is absent is a real resolution
//! failure in the proxy's code path (`dns_failure` removes the origin's name).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};

/// Why a lookup failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN).
    #[error("{0}: no such host")]
    NoSuchHost(String),
    /// The host exists but nothing plays that port (only 80 and 443 exist).
    #[error("{host}: port {port} is not served (only 80 and 443)")]
    NoSuchPort {
        /// The hostname.
        host: String,
        /// The port asked for.
        port: u16,
    },
}

/// Where one hostname lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// The origin's loopback address.
    pub ip: Ipv4Addr,
    /// The real port that plays port 80.
    pub http_port: u16,
    /// The real port that plays port 443.
    pub https_port: u16,
}

/// A shared hostname map. Cloning shares it.
///
/// ```
/// use cdn_net::{HostEntry, Resolver};
/// let dns = Resolver::default();
/// dns.insert("www.example.com", HostEntry { ip: "127.0.0.5".parse().unwrap(), http_port: 4080, https_port: 4443 });
/// assert_eq!(dns.resolve("www.example.com", 443).unwrap().to_string(), "127.0.0.5:4443");
/// dns.remove("www.example.com");
/// assert!(dns.resolve("www.example.com", 443).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    hosts: Arc<RwLock<BTreeMap<String, HostEntry>>>,
}

impl Resolver {
    /// Adds or replaces `host`.
    pub fn insert(&self, host: &str, entry: HostEntry) {
        self.write().insert(host.to_ascii_lowercase(), entry);
    }

    /// Removes `host`; later lookups fail with [`ResolveError::NoSuchHost`].
    pub fn remove(&self, host: &str) {
        self.write().remove(&host.to_ascii_lowercase());
    }

    /// The entry for `host`.
    pub fn lookup(&self, host: &str) -> Result<HostEntry, ResolveError> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host.to_ascii_lowercase())
            .copied()
            .ok_or_else(|| ResolveError::NoSuchHost(host.to_string()))
    }

    /// The socket address that plays `host:port` (`port` is 80 or 443).
    pub fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ResolveError> {
        let e = self.lookup(host)?;
        let real = match port {
            80 => e.http_port,
            443 => e.https_port,
            _ => {
                return Err(ResolveError::NoSuchPort {
                    host: host.to_string(),
                    port,
                })
            }
        };
        Ok(SocketAddr::V4(SocketAddrV4::new(e.ip, real)))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, HostEntry>> {
        self.hosts.write().unwrap_or_else(|e| e.into_inner())
    }
}
