//! The error a person sees, through curl (the real client) against a real CDN on loopback:
//! the vendor's reason phrase on the status line, the vendor's page as the body — with the
//! failed hop drawn from this request — and the same facts as JSON on request.

use cdn_core::{CdnConfig, NodeState, OriginConfig, OriginState, Profile};
use cdn_net::{NetCdn, NetSpec, NetworkAccess};
use std::process::Command;

/// The status line, headers and body of one `curl -si`.
struct Answer {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn curl(url: &str, accept: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-si", "--max-time", "20"]);
    if let Some(a) = accept {
        cmd.args(["-H", &format!("Accept: {a}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("curl is installed (crates/cdn-net/tests/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, body) = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no response head from curl: {text:?}"));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status_line,
        headers,
        body: body.to_string(),
    }
}

async fn cdn(profile: Profile, cdn: CdnConfig, origin: OriginConfig) -> NetCdn {
    NetCdn::start(NetSpec {
        profile,
        cdn,
        origin,
        network: cdn_core::NetworkConfig::default(),
        seed: 0,
        time_scale: 0.01,
        access: NetworkAccess::Unprivileged,
    })
    .await
    .expect("CDN starts")
}

async fn get(net: &NetCdn, path: &str, accept: Option<&'static str>) -> Answer {
    let url = format!("http://{}{}", net.l1_addrs()[0], path);
    tokio::task::spawn_blocking(move || curl(&url, accept))
        .await
        .unwrap()
}

fn origin_down() -> OriginConfig {
    OriginConfig {
        state: OriginState::Down,
        ..Default::default()
    }
}

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_521_page_marks_the_host_hop_refused_and_json_says_the_same() {
    let net = cdn(Profile::Cloudflare, CdnConfig::default(), origin_down()).await;
    let page = get(&net, "/assets/1.png", Some(BROWSER_ACCEPT)).await;
    assert_eq!(page.status_line, "HTTP/1.1 521 Web Server Is Down");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let len: usize = page.header("content-length").unwrap().parse().unwrap();
    assert_eq!(len, page.body.len(), "the whole page arrives");
    assert!(page.body.contains("Error 521</span> Web server is down"));
    // The shield's hop to the host failed, because the connection was refused.
    assert!(page.body.contains("data-failed-hop=\"Shield-Host\""));
    assert!(page.body.contains("&#10007; connection refused"));
    assert!(page.body.contains("data-place=\"Host\" data-state=\"err\""));
    assert!(page
        .body
        .contains("data-place=\"Cloudflare\" data-state=\"ok\""));
    let ray = page.header("cf-ray").expect("a request id header");
    assert!(page.body.contains(ray), "the page shows the request id");
    assert!(page.body.contains("docs/errors/521.md"));

    // curl's default `Accept: */*` gets the same HTML.
    let plain = get(&net, "/assets/2.png", None).await;
    assert!(plain.body.contains("Error 521"));

    let json = get(&net, "/assets/3.png", Some("application/json")).await;
    assert_eq!(json.status_line, "HTTP/1.1 521 Web Server Is Down");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("valid JSON");
    assert_eq!(v["status"], 521);
    assert_eq!(v["phrase"], "Web Server Is Down");
    assert_eq!(v["generated_by"], "l2");
    assert_eq!(v["hop"]["from"], "shield");
    assert_eq!(v["hop"]["to"], "host");
    assert_eq!(v["hop"]["failure"], "refused");
    assert_eq!(v["request_id"], json.header("cf-ray").unwrap());
    assert!(v["advice"]["owner"].as_str().unwrap().contains("listens"));
    net.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shield_that_is_down_is_marked_inside_the_cdn_not_at_the_host() {
    let mut cfg = CdnConfig::default();
    for l2 in &mut cfg.l2 {
        l2.state = NodeState::Down;
    }
    let net = cdn(Profile::Cloudflare, cfg, OriginConfig::default()).await;
    let page = get(&net, "/assets/1.png", None).await;
    assert!(
        page.status_line.starts_with("HTTP/1.1 52"),
        "{}",
        page.status_line
    );
    assert_eq!(page.header("x-generated-by"), Some("l1"));
    assert!(page.body.contains("data-failed-hop=\"Edge-Shield\""));
    assert!(page
        .body
        .contains("data-place=\"Cloudflare\" data-state=\"err\""));
    assert!(page
        .body
        .contains("data-place=\"Host\" data-state=\"unknown\""));
    net.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_502_is_its_plain_page_and_varnish_meditates() {
    let net = cdn(Profile::Nginx, CdnConfig::default(), origin_down()).await;
    let page = get(&net, "/assets/1.png", None).await;
    assert_eq!(page.status_line, "HTTP/1.1 502 Bad Gateway");
    assert!(page.body.contains("<title>502 Bad Gateway</title>"));
    assert!(page.body.contains(">nginx</p>"));
    net.shutdown(std::time::Duration::from_secs(1)).await;

    let net = cdn(Profile::Varnish, CdnConfig::default(), origin_down()).await;
    let page = get(&net, "/assets/1.png", None).await;
    assert_eq!(page.status_line, "HTTP/1.1 503 Service Unavailable");
    assert!(page.body.contains("Error 503 Backend fetch failed"));
    assert!(page.body.contains("Guru Meditation:"));
    net.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_responses_keep_their_bodies() {
    let net = cdn(
        Profile::Cloudflare,
        CdnConfig::default(),
        OriginConfig::default(),
    )
    .await;
    let ok = get(&net, "/assets/1.png", Some("application/json")).await;
    assert_eq!(ok.status_line, "HTTP/1.1 200 OK");
    assert_eq!(ok.header("content-type"), None);
    assert_eq!(ok.body.len(), 10240);
    net.shutdown(std::time::Duration::from_secs(1)).await;
}
