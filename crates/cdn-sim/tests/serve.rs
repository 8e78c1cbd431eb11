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
