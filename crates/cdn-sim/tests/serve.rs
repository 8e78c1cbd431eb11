//! `cdn-sim serve`: the CDN on real loopback sockets until Ctrl-C, then a graceful stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
name = "serve-test"
[origin]
service_time = "500ms"
cache_control = "no-store"
[[workload]]
rate = "1/s"
"#;

fn get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("L1 accepts");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /assets/1.png HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn ctrl_c_finishes_in_flight_requests_then_closes_the_listeners() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("serve.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(["serve", file.to_str().unwrap(), "--time-scale", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("http://")
                .nth(1)
                .map(|a| a.trim_end_matches('/').to_string())
        })
        .expect("serve prints the L1 address");

    // A request that takes 500 ms at the origin is in flight when Ctrl-C arrives.
    let a = addr.clone();
    let in_flight = std::thread::spawn(move || get(&a));
    std::thread::sleep(Duration::from_millis(150));
    let stop = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let answer = in_flight.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight request finished: {answer}"
    );

    // The process exits by itself, within the grace period, having cut nothing off.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(
        stop.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        stop.elapsed()
    );
    assert!(
        rest.iter().any(|l| l.contains("0 requests cut off")),
        "{rest:?}"
    );
    // Nothing listens any more.
    assert!(TcpStream::connect(&addr).is_err(), "the L1 port is closed");
    let _ = std::fs::remove_dir_all(&dir);
}

const SLOW: &str = r#"
name = "serve-slow"
[origin]
service_time = "20s"
cache_control = "no-store"
[cdn]
read_timeout = "60s"
[[workload]]
rate = "1/s"
"#;

#[test]
fn the_printed_grace_is_kept_and_a_cut_off_request_gets_a_clean_503() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-serve-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slow.toml");
    std::fs::write(&file, SLOW).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdn-sim"))
        .args(["serve", file.to_str().unwrap(), "--time-scale", "1"])
        .args(["--grace", "1500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for l in lines.by_ref().map_while(Result::ok) {
        if let Some(a) = l.split("http://").nth(1) {
            addr.get_or_insert(a.trim_end_matches('/').to_string());
        }
        if l.starts_with("Ctrl-C stops") {
            assert!(l.contains("get 1.5 s"), "{l}");
            break;
        }
    }
    let addr = addr.expect("serve prints the L1 address");

    // curl, the real client: its request waits on a 20 s origin when SIGINT arrives.
    let url = format!("http://{addr}/assets/1.png");
    let in_flight = std::thread::spawn(move || {
        let out = Command::new("curl")
            .args(["-si", "--max-time", "30", &url])
            .output()
            .expect("curl runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            Instant::now(),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let stop = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (code, answer, answered_at) = in_flight.join().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let exited = stop.elapsed();
    let waited = answered_at.duration_since(stop);

    // A clean close: curl exits 0 (not 52 "empty reply" nor 56 "recv failure") with a
    // complete 503 that says the connection closes.
    assert_eq!(code, Some(0), "curl: {answer}");
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("Error 503"), "the vendor's page: {answer}");
    // The grace printed is the grace applied: no answer before it ends. The deadline is
    // set after the signal arrives, so the answer cannot come sooner than 1.5 s after kill.
    assert!(
        waited >= Duration::from_millis(1500),
        "answered after {waited:?}"
    );
    // And not much later: 0.5 s for the cut-off answers to be written, 0.5 s for the
    // shields', up to 1 s for the origin's cancelled tasks — 2 s beyond the grace, plus
    // 1.5 s for a busy 2-core machine to schedule the process.
    assert!(exited < Duration::from_secs(5), "exited after {exited:?}");
    assert!(status.success());
    assert!(
        rest.iter()
            .any(|l| l.contains("get 1.5 s, then are answered 503")),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.contains("(1 request cut off)")),
        "exactly one request was cut off: {rest:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
