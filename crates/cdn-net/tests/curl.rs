//! curl — the real client — against a real L1 edge of a real CDN on loopback: status codes
//! and headers for the lessons users come for.

use cdn_core::origin::{FirewallAction, FirewallRule, LimitReqSpec};
use cdn_core::{
    AddrSpec, CdnConfig, CertState, HttpsListener, OriginConfig, OriginState, Profile, SslMode,
};
use cdn_net::{NetCdn, NetSpec, NetworkAccess};
use std::process::Command;

/// Status line and headers from `curl -si`.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn curl(url: &str) -> Answer {
    let out = Command::new("curl")
        .args([
            "-si",
            "--max-time",
            "20",
            "-H",
            "Accept-Encoding: gzip",
            url,
        ])
        .output()
        .expect("curl is installed (crates/cdn-net/tests/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line from curl: {text:?}"));
    let headers = lines
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer { status, headers }
}

async fn cdn(cdn: CdnConfig, origin: OriginConfig) -> NetCdn {
    NetCdn::start(NetSpec {
        profile: Profile::Cloudflare,
        cdn,
        origin,
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        // 19 s connect timeout → 190 ms; 100 s read timeout → 1 s.
        time_scale: 0.01,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts")
}

async fn get(net: &NetCdn, path: &str) -> Answer {
    let url = format!("http://{}{}", net.l1_addrs()[0], path);
    tokio::task::spawn_blocking(move || curl(&url))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_origin_miss_then_hit_with_age() {
    let net = cdn(CdnConfig::default(), OriginConfig::default()).await;
    let first = get(&net, "/assets/1.png").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("MISS from edge-1"));
    assert_eq!(first.header("x-generated-by"), Some("origin"));
    assert_eq!(first.header("age"), None, "Cloudflare omits Age on a MISS");
    assert_eq!(first.header("content-length"), Some("10240"));
    let second = get(&net, "/assets/1.png").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache"), Some("HIT from edge-1"));
    assert_eq!(second.header("x-generated-by"), Some("l1"));
    assert!(second.header("age").is_some(), "Age on a HIT");
    assert_eq!(second.header("etag"), Some("\"v1\""));
    net.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_faults_give_cloudflare_codes_from_the_shield() {
    let cases: Vec<(u16, CdnConfig, OriginConfig)> = vec![
        (
            521,
            CdnConfig::default(),
            OriginConfig {
                state: OriginState::Down,
                ..Default::default()
            },
        ),
        (
            522,
            CdnConfig::default(),
            OriginConfig {
                firewall: vec![FirewallRule {
                    source: AddrSpec::Any,
                    action: FirewallAction::Drop,
                }],
                ..Default::default()
            },
        ),
        (
            524,
            CdnConfig::default(),
            OriginConfig {
                state: OriginState::Hung,
                ..Default::default()
            },
        ),
        (
            525,
            CdnConfig {
                ssl_mode: SslMode::Full,
                ..Default::default()
            },
            OriginConfig {
                https: HttpsListener::Plain,
                ..Default::default()
            },
        ),
        (
            526,
            CdnConfig {
                ssl_mode: SslMode::Strict,
                ..Default::default()
            },
            OriginConfig {
                cert: CertState::Expired,
                ..Default::default()
            },
        ),
    ];
    for (code, cdn_cfg, origin) in cases {
        let net = cdn(cdn_cfg, origin).await;
        let a = get(&net, "/assets/1.png").await;
        assert_eq!(a.status, code);
        assert_eq!(
            a.header("x-generated-by"),
            Some("l2"),
            "{code} comes from the shield"
        );
        assert_eq!(a.header("x-cache"), Some("MISS from edge-1"));
        assert!(a.header("x-error-reason").is_some(), "{code} says why");
        net.shutdown(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_req_503_comes_from_the_origin() {
    let origin = OriginConfig {
        limit_req: Some(LimitReqSpec {
            rate: "1r/m".parse().unwrap(),
            burst: 0,
            nodelay: true,
            delay: None,
            status: 503,
        }),
        ..Default::default()
    };
    let net = cdn(CdnConfig::default(), origin).await;
    assert_eq!(get(&net, "/assets/1.png").await.status, 200);
    let limited = get(&net, "/assets/2.png").await;
    assert_eq!(limited.status, 503);
    assert_eq!(limited.header("x-generated-by"), Some("origin"));
    // The first URL is cached: the limit does not touch it.
    assert_eq!(
        get(&net, "/assets/1.png").await.header("x-cache"),
        Some("HIT from edge-1")
    );
    net.shutdown(std::time::Duration::from_secs(1)).await;
}
