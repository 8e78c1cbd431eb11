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
