//! `[origin] upstream`: a real server behind the CDN instead of the modelled origin. Only
//! loopback addresses are allowed (the project never sends a packet off the machine).

use super::ConfigError;
use crate::node::TlsPolicy;
use crate::tls::SslMode;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A parsed `upstream = "http://127.0.0.1:8000"`.
///
/// ```
/// let u = cdn_core::origin::UpstreamUrl::parse("http://127.0.0.1:8000").unwrap();
/// assert_eq!(u.addr.port(), 8000);
/// assert!(cdn_core::origin::UpstreamUrl::parse("http://10.0.0.1:80").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `https://` (else `http://`).
    pub https: bool,
    /// Where it listens (loopback).
    pub addr: SocketAddrV4,
    /// `host:port` as written (the TLS server name is its host part).
    pub authority: String,
}

impl UpstreamUrl {
    /// The host as written (`localhost`, `127.0.0.1`): the name an `https://` upstream's
    /// certificate is checked against and sent as SNI, as nginx's `proxy_ssl_name` defaults
    /// to the host of `proxy_pass`.
    ///
    /// ```
    /// let u = cdn_core::origin::UpstreamUrl::parse("https://localhost:8443").unwrap();
    /// assert_eq!(u.host(), "localhost");
    /// ```
    pub fn host(&self) -> &str {
        self.authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h)
    }

    /// How the CDN speaks to this server under `ssl_mode`. A real server listens for TLS
    /// or for plain HTTP, so the URL's scheme decides whether there is a handshake (even
    /// under `flexible`, whose modelled origin would be reached on port 80); `ssl_mode`
    /// decides whether the certificate is verified: only the strict modes verify, as
    /// Cloudflare's Full (strict) and nginx's `proxy_ssl_verify on` do. A real
    /// certificate is never a CDN's origin CA certificate, so that trust does not apply.
    ///
    /// ```
    /// use cdn_core::{origin::UpstreamUrl, SslMode};
    /// let https = UpstreamUrl::parse("https://127.0.0.1:8443").unwrap();
    /// assert_eq!(https.tls(SslMode::Full).map(|t| t.verify), Some(false));
    /// assert_eq!(https.tls(SslMode::Strict).map(|t| t.verify), Some(true));
    /// assert_eq!(UpstreamUrl::parse("http://127.0.0.1:8000").unwrap().tls(SslMode::Strict), None);
    /// ```
    pub fn tls(&self, ssl_mode: SslMode) -> Option<TlsPolicy> {
        self.https.then_some(TlsPolicy {
            verify: matches!(ssl_mode, SslMode::Strict | SslMode::OriginPullStrict),
            trust_origin_ca: false,
        })
    }

    /// Parses `http://HOST[:PORT][/]` where HOST is `localhost` or a 127.0.0.0/8 address.
    pub fn parse(url: &str) -> Result<UpstreamUrl, ConfigError> {
        let bad = |why: &str| {
            ConfigError::new(
                "origin.upstream",
                format!("{url:?}: {why}; expected \"http://127.0.0.1:PORT\" (loopback only)"),
            )
        };
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(bad("the scheme must be http:// or https://"));
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.is_empty() {
            return Err(bad("a path is not allowed"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
            None => (authority, if https { 443 } else { 80 }),
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            host.parse::<Ipv4Addr>()
                .map_err(|_| bad("the host must be localhost or an IPv4 address"))?
        };
        if !ip.is_loopback() {
            return Err(bad("not a loopback address"));
        }
        Ok(UpstreamUrl {
            https,
            addr: SocketAddrV4::new(ip, port),
            authority: authority.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_parse() {
        let u = UpstreamUrl::parse("http://localhost:8000/").unwrap();
        assert_eq!(u.addr, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8000));
        assert!(!u.https);
        assert_eq!(
            UpstreamUrl::parse("https://127.0.0.2").unwrap().addr.port(),
            443
        );
        for bad in [
            "ftp://127.0.0.1",
            "http://8.8.8.8:80",
            "http://127.0.0.1:0",
            "http://127.0.0.1/x",
            "http://example.com",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
