//! `[origin] upstream` and `cdn-sim proxy` at the command line: what cannot run gets one
//! line and exit status 2, never a start.

use std::process::Command;

fn cdn_sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(args)
        .output()
        .expect("cdn-sim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn sim_mode_refuses_a_real_upstream_in_one_line() {
    let dir = std::env::temp_dir().join(format!("proxy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("real.toml");
    std::fs::write(
        &file,
        "name = \"real\"\n[origin]\nupstream = \"http://127.0.0.1:8000\"\n[[workload]]\n",
    )
    .unwrap();
    let (code, err) = cdn_sim(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("[origin] upstream") && err.contains("--mode net"),
        "{err}"
    );
    // Off loopback: the loader says where.
    std::fs::write(
        &file,
        "name = \"real\"\n[origin]\nupstream = \"http://10.0.0.1:80\"\n[[workload]]\n",
    )
    .unwrap();
    let (code, err) = cdn_sim(&["run", file.to_str().unwrap(), "--mode", "net"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("origin.upstream") && err.contains("loopback"),
        "{err}"
    );
    // A real server runs on the wall clock: no other time scale.
    std::fs::write(
        &file,
        "name = \"real\"\n[origin]\nupstream = \"http://127.0.0.1:8000\"\n[[workload]]\n",
    )
    .unwrap();
    let (code, err) = cdn_sim(&[
        "run",
        file.to_str().unwrap(),
        "--mode",
        "net",
        "--time-scale",
        "0.1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--time-scale 0.1") && err.contains("real time"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn proxy_refuses_what_it_cannot_run() {
    let (code, err) = cdn_sim(&["proxy", "--upstream", "http://192.0.2.1:80"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("loopback"), "{err}");
    let (code, err) = cdn_sim(&[
        "proxy",
        "--upstream",
        "http://127.0.0.1:8000",
        "--profile",
        "squid",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("rfc9111"),
        "the allowed profiles are listed: {err}"
    );
}

#[test]
fn https_upstream_settings_that_cannot_work_are_refused_by_key() {
    let dir = std::env::temp_dir().join(format!("proxy-cli-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tls.toml");
    let run = |body: &str| {
        std::fs::write(
            &file,
            format!("name = \"tls\"\n{body}[[workload]]\ncount = 1\n"),
        )
        .unwrap();
        cdn_sim(&["run", file.to_str().unwrap(), "--mode", "net"])
    };
    // A CA only means something for https://.
    let (code, err) =
        run("[origin]\nupstream = \"http://127.0.0.1:8000\"\nupstream_ca = \"ca.pem\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tls.toml:4: origin.upstream_ca"), "{err}");
    // A relative CA path is the scenario file's neighbour, whatever the working directory.
    let (code, err) =
        run("[origin]\nupstream = \"https://localhost:8443\"\nupstream_ca = \"ca.pem\"\n");
    assert_eq!(code, 2, "{err}");
    let beside = dir.join("ca.pem").display().to_string();
    assert!(
        err.contains("origin.upstream_ca") && err.contains(&beside),
        "{err}"
    );
    // Faults need the fault layer, which reads HTTP: not with TLS end to end, not even
    // from an event.
    let (code, err) = run("[origin]\nupstream = \"https://localhost:8443\"\nstate = \"hung\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("origin.state") && err.contains("http://"),
        "{err}"
    );
    let (code, err) = run(
        "[origin]\nupstream = \"https://localhost:8443\"\n[[event]]\nat = \"1s\"\norigin.limit_conn = { max = 1 }\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("event[0].origin.limit_conn"), "{err}");
    // The proxy: an unknown mode is refused with the allowed ones.
    let (code, err) = cdn_sim(&[
        "proxy",
        "--upstream",
        "https://localhost:8443",
        "--ssl-mode",
        "paranoid",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("strict") && err.contains("full"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real upstream that holds every request until `want` are in flight at once (or 10 s have
/// passed), answers `no-store`, and records the most it ever held at once.
fn barrier_upstream(
    want: usize,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<usize>>,
) {
    use std::sync::{Arc, Mutex};
    let most = Arc::new(Mutex::new(0usize));
    let seen = most.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let held = Arc::new(tokio::sync::Semaphore::new(0));
            let now = Arc::new(Mutex::new(0usize));
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (held, now, seen) = (held.clone(), now.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |_req| {
                        let (held, now, seen) = (held.clone(), now.clone(), seen.clone());
                        async move {
                            let n = {
                                let mut n = now.lock().unwrap();
                                *n += 1;
                                let mut m = seen.lock().unwrap();
                                *m = (*m).max(*n);
                                *n
                            };
                            if n >= want {
                                held.add_permits(want);
                            }
                            let _ = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                held.acquire(),
                            )
                            .await
                            .map(|p| p.map(|p| p.forget()));
                            *now.lock().unwrap() -= 1;
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("cache-control", "no-store")
                                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                        b"ok",
                                    )))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    (rx.recv().unwrap(), most)
}

/// One `GET path` with `Connection: close`; the status code.
fn get(addr: std::net::SocketAddr, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn proxy_with_the_nginx_profile_sends_concurrent_misses_upstream_at_once() {
    // nginx's proxy_cache_lock is off by default: four clients asking at once for a URL the
    // upstream marks no-store are four concurrent upstream requests, not a queue (the proxy
    // used Cloudflare's defaults, collapsing, whatever --profile said).
    let (upstream, most) = barrier_upstream(4);
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args([
            "proxy",
            "--upstream",
            &format!("http://{upstream}"),
            "--profile",
            "nginx",
            "--listen",
            &listen.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cdn-sim proxy starts");
    // It prints where it listens once it does.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("listening"), "{line}");
    let clients: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(listen, "/report.json")))
        .collect();
    let codes: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(codes, [200; 4]);
    assert_eq!(
        *most.lock().unwrap(),
        4,
        "all four misses reached the upstream at the same time"
    );
}
