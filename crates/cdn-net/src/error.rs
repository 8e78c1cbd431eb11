//! The one error type of the crate.

use cdn_core::ConfigError;
use std::io;
use std::net::Ipv4Addr;

/// Why a server could not be started or reconfigured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The origin configuration is well-typed but not allowed.
    #[error("invalid origin configuration: {0}")]
    Config(#[from] ConfigError),
    /// `time_scale` must be finite and above zero.
    #[error("time_scale must be a finite number above zero, got {0}")]
    TimeScale(f64),
    /// Only loopback addresses are ever bound.
    #[error("{0} is not in 127.0.0.0/8: cdn-net binds loopback addresses only")]
    NotLoopback(Ipv4Addr),
    /// The configuration asks for a fault that only root inside a private network namespace
    /// can produce for real (see [`NetworkAccess`](crate::NetworkAccess)).
    #[error(
        "{fault} needs NetworkAccess::PrivateNamespace (root inside a network namespace made \
         for the run, e.g. `unshare --net`); without it the fault cannot be made real"
    )]
    NeedsPrivateNamespace {
        /// The fault, in words (e.g. `"firewall reject for some sources only"`).
        fault: &'static str,
    },
    /// `NetworkAccess::PrivateNamespace` was asked for, but this is not a private namespace,
    /// the process is not root, a tool is missing, or a command failed.
    #[error("private network namespace: {0}")]
    Namespace(String),
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `"bind 127.0.0.5:0"`.
        what: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Generating a certificate failed (e.g. a hostname that is not a DNS name).
    #[error("certificate for {hostname:?}: {message}")]
    Certificate {
        /// The hostname the certificates were for.
        hostname: String,
        /// What rcgen or rustls said.
        message: String,
    },
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}
