//! HTTP rules that are security matters, at a CDN in front of the modelled origin (issue:
//! "HTTP correctness"): a host the CDN does not serve gets the vendor's answer and never a
//! copy of another host's object; HTTP/1.1 without `Host` is 400; `CONNECT` is not
//! tunnelled; `If-None-Match` lists and `*` are answered per RFC 9110 §13.1.2.

mod common;

use cdn_core::{CdnConfig, OriginConfig, Profile};
use cdn_net::origin::NetworkAccess;
use cdn_net::{NetCdn, NetSpec};

async fn cdn(profile: Profile) -> NetCdn {
    NetCdn::start(NetSpec {
        profile,
        cdn: CdnConfig::default(),
        origin: OriginConfig::default(),
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        time_scale: 0.1,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts")
}

fn get(path: &str, host: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_get_the_vendors_answer_and_never_another_hosts_copy() {
    let net = cdn(Profile::Cloudflare).await;
    let edge = net.l1_addrs()[0];
    let (s, _) = common::raw_exchange(edge, &get("/assets/1.png", "www.example.com", "")).await;
    assert_eq!(s, 200);
    // Cloudflare answers a host that is not on it with 530 (error 1001).
    let (s, head) = common::raw_exchange(edge, &get("/assets/1.png", "evil.example", "")).await;
    assert_eq!(s, 530, "{head}");
    assert!(head.contains("error 1001"), "{head}");
    // Absolute form names the host too.
    let (s, _) = common::raw_exchange(
        edge,
        &get("http://evil.example/assets/1.png", "www.example.com", ""),
    )
    .await;
    assert_eq!(s, 530);
    // Addressing the edge by its IP (as `cdn-sim serve` suggests) is the site itself.
    let (s, _) = common::raw_exchange(edge, &get("/assets/1.png", &edge.to_string(), "")).await;
    assert_eq!(s, 200);
    // nginx's default server serves any host, as the one site.
    let net = cdn(Profile::Nginx).await;
    let (s, _) = common::raw_exchange(
        net.l1_addrs()[0],
        &get("/assets/1.png", "other.example", ""),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_host_is_400_and_connect_is_not_tunnelled() {
    let net = cdn(Profile::Cloudflare).await;
    let edge = net.l1_addrs()[0];
    let (s, _) = common::raw_exchange(edge, "GET /assets/1.png HTTP/1.1\r\n\r\n").await;
    assert_eq!(s, 400, "RFC 9112 §3.2");
    // HTTP/1.0 needs no Host.
    let (s, _) = common::raw_exchange(edge, "GET /assets/1.png HTTP/1.0\r\n\r\n").await;
    assert_eq!(s, 200);
    let (s, _) = common::raw_exchange(
        edge,
        "CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n",
    )
    .await;
    assert_eq!(s, 501);
    let (s, _) = common::raw_exchange(
        edge,
        "TRACE /assets/1.png HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    )
    .await;
    assert_eq!(s, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_lists_and_star_get_304() {
    let net = cdn(Profile::Cloudflare).await;
    let edge = net.l1_addrs()[0];
    let (s, head) = common::raw_exchange(edge, &get("/assets/1.png", "www.example.com", "")).await;
    assert_eq!(s, 200);
    assert!(head.contains("etag: \"v1\""), "{head}");
    let (s, _) = common::raw_exchange(
        edge,
        &get(
            "/assets/1.png",
            "www.example.com",
            "If-None-Match: \"v0\", \"v1\"\r\n",
        ),
    )
    .await;
    assert_eq!(s, 304, "the list holds the current tag");
    let (s, _) = common::raw_exchange(
        edge,
        &get("/assets/1.png", "www.example.com", "If-None-Match: *\r\n"),
    )
    .await;
    assert_eq!(s, 304, "`*` matches any current representation");
    let (s, _) = common::raw_exchange(
        edge,
        &get(
            "/assets/1.png",
            "www.example.com",
            "If-None-Match: \"v0\", \"v7\"\r\n",
        ),
    )
    .await;
    assert_eq!(s, 200, "no listed tag matches");
}
