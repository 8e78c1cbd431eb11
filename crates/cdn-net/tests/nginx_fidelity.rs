//! Fidelity against real nginx: the same request schedule, sent through cdn-net's L2 shield,
//! to a real nginx origin with
//! `limit_req_zone $binary_remote_addr zone=perip:10m rate=10r/s;` and
//! `limit_req zone=perip burst=5 nodelay;` (serving a real file: nginx's `return` runs
//! before `limit_req`), and to cdn-net's own origin with the same limit: the 200/503 counts
//! agree (and match what FAILURES.md §4 reports for nginx).

use cdn_core::config::{build_nodes, NodeConfig};
use cdn_core::origin::LimitReqSpec;
use cdn_core::{CdnConfig, OriginConfig, Profile, SslMode, Tier};
use cdn_net::proxy::{Proxy, ProxySpec, Upstream};
use cdn_net::{Certificates, HostEntry, OriginOptions, OriginServer, Resolver, VirtualClock};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::nginx::{free_port, Nginx};
use common::{limit_req_admits, Timed};

const HOST: &str = "www.example.com";

/// Starts nginx on 127.0.0.20 as a rate-limited origin, or `None` (with a SKIPPED line) if
/// nginx is not installed. Returns it and its port.
fn start_nginx() -> Option<(Nginx, u16)> {
    let ip = Ipv4Addr::new(127, 0, 0, 20);
    let port = free_port(ip);
    let nginx = Nginx::start(
        "fidelity",
        |d| {
            std::fs::create_dir_all(d.join("html")).unwrap();
            std::fs::write(d.join("html/obj.png"), vec![b'x'; 1024]).unwrap();
            format!(
                "  limit_req_zone $binary_remote_addr zone=perip:10m rate=10r/s;\n\
                 server {{\n    listen {ip}:{port};\n    access_log off;\n    root {d}/html;\n\
                 location /assets/ {{ limit_req zone=perip burst=5 nodelay; try_files /obj.png =404; }}\n  }}",
                d = d.display()
            )
        },
        &[SocketAddr::from((ip, port))],
    )?;
    Some((nginx, port))
}

/// An L2 shield whose origin (by name) is at `origin`; back-to-origin from 127.0.1.1.
async fn shield(resolver: Resolver, certs: Arc<Certificates>, clock: VirtualClock) -> Proxy {
    let cdn = CdnConfig {
        ssl_mode: SslMode::Off,
        l2: vec![NodeConfig {
            egress: vec!["127.0.1.1".parse().unwrap()],
            ..NodeConfig::named("shield-1")
        }],
        ..CdnConfig::default()
    };
    let node = build_nodes(&cdn, Profile::Nginx, Tier::L2, 0).remove(0);
    Proxy::start(ProxySpec {
        node,
        listen: Ipv4Addr::new(127, 0, 3, 9),
        upstream: Upstream::Origin,
        origin_host: HOST.into(),
        resolver,
        certs,
        timers: cdn_net::Timers::new(clock, cdn_net::LagMeter::default()),
        traces: cdn_net::TraceSink::default(),
        // No emulated latency: the schedule below is the origin's arrival schedule.
        links: cdn_net::Links::default(),
        real: None,
        loops: None,
    })
    .await
    .unwrap()
}

/// One GET through the shield (an in-process client, so the schedule keeps its timing).
async fn get(shield: SocketAddr, path: String) -> u16 {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(shield)
        .await
        .expect("shield listens");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::new(Empty::<bytes::Bytes>::new());
    *req.uri_mut() = path.parse().unwrap();
    req.headers_mut().insert("host", HOST.parse().unwrap());
    req.headers_mut()
        .insert("x-forwarded-proto", "http".parse().unwrap());
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// Sends `/assets/{i}.png` to the shield at the given real offsets; returns (200s, 503s).
async fn schedule(shield: SocketAddr, offsets_ms: &[u64]) -> Vec<Timed> {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, &ms) in offsets_ms.iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
            let sent = start.elapsed();
            let status = get(shield, format!("/assets/{i}.png")).await;
            Timed {
                status,
                sent,
                answered: start.elapsed(),
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let timed = t.await.unwrap();
        assert!(
            [200, 503].contains(&timed.status),
            "unexpected status {}",
            timed.status
        );
        out.push(timed);
    }
    out
}

/// (200s, 503s).
fn counts(timed: &[Timed]) -> (usize, usize) {
    let ok = timed.iter().filter(|t| t.status == 200).count();
    (ok, timed.len() - ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_req_counts_agree_with_real_nginx() {
    let Some((nginx, nginx_port)) = start_nginx() else {
        return;
    };
    // What nginx.conf says (`start_nginx`), as the core's table.
    let spec = LimitReqSpec {
        rate: "10r/s".parse().unwrap(),
        burst: 5,
        nodelay: true,
        delay: None,
        status: 503,
    };
    let certs = Arc::new(Certificates::generate(HOST).unwrap());
    let clock = VirtualClock::start(1.0).unwrap();

    // Through the shield to real nginx.
    let to_nginx = Resolver::default();
    let ip = Ipv4Addr::new(127, 0, 0, 20);
    to_nginx.insert(
        HOST,
        HostEntry {
            ip,
            http_port: nginx_port,
            https_port: nginx_port,
        },
    );
    let s1 = shield(to_nginx, certs.clone(), clock).await;
    let burst = schedule(s1.addr(), &[0; 20]).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // let the bucket drain
    let steady: Vec<u64> = (0..300).map(|i| i * 10).collect();
    let rate = schedule(s1.addr(), &steady).await;
    s1.shutdown(Duration::from_secs(1)).await;

    // Through a shield to cdn-net's own origin with the same limit.
    let own = Resolver::default();
    let origin = OriginServer::start_with(
        OriginConfig {
            limit_req: Some(spec.clone()),
            // As nginx serving a static file: no Cache-Control, so the shield (nginx
            // profile) stores nothing and every request reaches the origin's limit.
            cache_control: String::new(),
            ..OriginConfig::default()
        },
        Ipv4Addr::new(127, 0, 0, 21),
        certs.clone(),
        OriginOptions {
            clock: Some(clock),
            resolver: own.clone(),
            ..OriginOptions::default()
        },
    )
    .await
    .unwrap();
    let s2 = shield(own, certs, clock).await;
    let own_burst = schedule(s2.addr(), &[0; 20]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let own_rate = schedule(s2.addr(), &steady).await;
    s2.shutdown(Duration::from_secs(1)).await;
    origin.shutdown().await;
    drop(nginx);

    // 20 at once from one egress IP: 1 + burst admitted when all 20 arrive within one token
    // interval (100 ms), as FAILURES.md §4 says. Under `stress-ng --cpu 2` the 20 connections
    // once took longer than that to reach real nginx, and the token that accrued meanwhile
    // admitted a 7th (7/13): so each server is held to what its own requests' measured send
    // and answer times allow under nginx's arithmetic — exactly 6 whenever the burst was
    // tight.
    for (who, timed) in [("real nginx", &burst), ("cdn-net", &own_burst)] {
        let ok = counts(timed).0;
        let (fewest, most) = limit_req_admits(&spec, timed);
        assert!(fewest >= 6, "{who}: a burst admits at least 1 + burst");
        assert!(
            (fewest..=most).contains(&ok),
            "{who}: burst of 20, {ok} × 200, timing allows {fewest}..={most}"
        );
    }
    // 100/s for 3 s: 35/265 in FAILURES.md when every request arrives on time. Real timers
    // are late by what the machine makes them: each server is held to what its own
    // requests' measured send and answer times allow under nginx's arithmetic.
    for (who, timed) in [("real nginx", &rate), ("cdn-net", &own_rate)] {
        let ok = counts(timed).0;
        let (fewest, most) = limit_req_admits(&spec, timed);
        assert!(
            (fewest..=most).contains(&ok),
            "{who}: {ok} × 200, timing allows {fewest}..={most}"
        );
    }
}
