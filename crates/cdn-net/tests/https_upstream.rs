//! A real `https://` server behind the CDN (`[origin] upstream = "https://localhost:PORT"`):
//! the shields shake hands with it themselves, so its real certificate meets the CDN's
//! `ssl_mode` — `strict` verifies chain, dates and the URL's host against `upstream_ca`
//! (Cloudflare's Full (strict) → 526 when that fails), `full` accepts any certificate.
//! The server here is hyper behind rustls with certificates made by rcgen for the test.

mod common;

use bytes::Bytes;
use cdn_core::{CdnConfig, OriginConfig, OriginState, Profile, SslMode};
use cdn_net::{NetCdn, NetError};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// The server's certificate.
#[derive(Clone, Copy, PartialEq)]
enum Leaf {
    /// Signed by the test CA for `localhost`, current.
    Good,
    /// Signed by the test CA for `localhost`, expired in 2001.
    Expired,
    /// Signed by the test CA for another name.
    OtherHost,
}

/// A CA, written to a PEM file the CDN can be told to trust.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: PathBuf,
}

fn test_ca(dir: &std::path::Path) -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "https_upstream test CA");
    let cert = params.self_signed(&key).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    TestCa {
        issuer: Issuer::new(params, key),
        pem,
    }
}

fn server_config(ca: &TestCa, leaf: Leaf) -> Arc<rustls::ServerConfig> {
    let name = if leaf == Leaf::OtherHost {
        "other.invalid"
    } else {
        "localhost"
    };
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    if leaf == Leaf::Expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
        .unwrap();
    Arc::new(config)
}

/// An HTTPS origin: every path answers 200 "hello", cacheable for a minute. Counts the
/// requests that reached it (after a handshake).
async fn https_origin(config: Arc<rustls::ServerConfig>) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |_req| {
                    count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("cache-control", "max-age=60")
                                .body(Full::new(Bytes::from_static(b"hello")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, served)
}

async fn cdn(origin: OriginConfig, ssl_mode: SslMode) -> Result<NetCdn, NetError> {
    let cdn = CdnConfig {
        ssl_mode,
        ..CdnConfig::for_profile(Profile::Cloudflare)
    };
    common::real_cdn(Profile::Cloudflare, cdn, origin).await
}

fn upstream(addr: SocketAddr, ca: Option<&TestCa>) -> OriginConfig {
    OriginConfig {
        upstream: Some(format!("https://localhost:{}", addr.port())),
        upstream_ca: ca.map(|c| c.pem.display().to_string()),
        ..OriginConfig::default()
    }
}

/// What the edge answered a `GET`.
struct Answer {
    status: u16,
    /// The status line's phrase.
    reason: String,
    /// `x-cache`.
    cache: String,
}

async fn get(edge: SocketAddr, path: &str) -> Answer {
    let stream = TcpStream::connect(edge).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "www.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    let reason = match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        None => resp.status().canonical_reason().unwrap_or("").to_string(),
    };
    let cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Answer {
        status,
        reason,
        cache,
    }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdn-net-https-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_trusts_the_given_ca_and_caches_what_the_server_says() {
    let dir = tempdir("trusted");
    let ca = test_ca(&dir);
    let (addr, served) = https_origin(server_config(&ca, Leaf::Good)).await;
    let cdn = cdn(upstream(addr, Some(&ca)), SslMode::Strict)
        .await
        .unwrap();
    let edge = cdn.l1_addrs()[0];
    for cache in ["MISS from edge-1", "HIT from edge-1"] {
        let a = get(edge, "/a.png").await;
        assert_eq!((a.status, a.cache.as_str()), (200, cache));
    }
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // Reached directly, the server's requests are counted by the shields that sent them.
    assert_eq!(cdn.origin_requests(), 1);
    cdn.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_answers_526_for_a_certificate_it_cannot_trust() {
    let dir = tempdir("untrusted");
    let ca = test_ca(&dir);
    for (leaf, trust) in [
        // The right certificate, but the CDN was not told to trust its CA.
        (Leaf::Good, false),
        (Leaf::Expired, true),
        (Leaf::OtherHost, true),
    ] {
        let (addr, served) = https_origin(server_config(&ca, leaf)).await;
        let cdn = cdn(upstream(addr, trust.then_some(&ca)), SslMode::Strict)
            .await
            .unwrap();
        let a = get(cdn.l1_addrs()[0], "/a.png").await;
        assert_eq!(a.status, 526, "trusting the CA: {trust}");
        // Passed on by the edge with Cloudflare's phrase, not hyper's `<none>`.
        assert_eq!(a.reason, "Invalid SSL Certificate");
        // The handshake failed: no request reached the application.
        assert_eq!(served.load(Ordering::SeqCst), 0);
        cdn.shutdown(Duration::ZERO).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_accepts_any_certificate() {
    let dir = tempdir("full");
    let ca = test_ca(&dir);
    let (addr, served) = https_origin(server_config(&ca, Leaf::Expired)).await;
    let cdn = cdn(upstream(addr, None), SslMode::Full).await.unwrap();
    let a = get(cdn.l1_addrs()[0], "/a.png").await;
    assert_eq!((a.status, a.cache.as_str()), (200, "MISS from edge-1"));
    assert_eq!(served.load(Ordering::SeqCst), 1);
    cdn.shutdown(Duration::ZERO).await;
}

/// The configuration error a strict CDN in front of `origin` refuses to start with.
async fn refused(origin: OriginConfig) -> cdn_core::ConfigError {
    match cdn(origin, SslMode::Strict).await {
        Err(NetError::Config(e)) => e,
        Err(e) => panic!("not a configuration error: {e}"),
        Ok(_) => panic!("started"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_front_of_an_https_server_are_refused_by_key() {
    let dir = tempdir("faults");
    let ca = test_ca(&dir);
    let (addr, _) = https_origin(server_config(&ca, Leaf::Good)).await;
    let origin = OriginConfig {
        state: OriginState::Hung,
        ..upstream(addr, Some(&ca))
    };
    let e = refused(origin).await;
    assert_eq!(e.key, "origin.state");
    assert!(e.message.contains("http://"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_that_is_not_a_ca_names_the_file() {
    let dir = tempdir("badca");
    let not_pem = dir.join("notes.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let origin = OriginConfig {
        upstream: Some("https://localhost:1".into()),
        upstream_ca: Some(not_pem.display().to_string()),
        ..OriginConfig::default()
    };
    let e = refused(origin).await;
    assert_eq!(e.key, "origin.upstream_ca");
    assert!(e.message.contains("notes.txt"), "{}", e.message);
}
