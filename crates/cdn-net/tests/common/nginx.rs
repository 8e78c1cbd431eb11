//! A real nginx (from apt, installed by `tests/setup.sh`) in a temporary directory, for the
//! tests that check the model against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx; stopped (and its directory removed) on drop.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx whose `http {}` block holds what `servers` returns (given the nginx
    /// directory, where it may write files), and waits until every address in `listens`
    /// accepts connections. Every request is logged to `access.log` as
    /// `$status $upstream_status $body_bytes_sent`. `None`, after a SKIPPED line, if nginx is
    /// not installed (never as root: CI installs it).
    pub fn start(
        name: &str,
        servers: impl FnOnce(&Path) -> String,
        listens: &[SocketAddr],
    ) -> Option<Nginx> {
        let Some(nginx) = cdn_net::netns::tool("nginx") else {
            assert!(
                !cdn_net::netns::is_root(),
                "nginx is missing: crates/cdn-net/tests/setup.sh installs it (run as root)"
            );
            super::skipped("needs nginx (run crates/cdn-net/tests/setup.sh as root)");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("cdn-net-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = if cdn_net::netns::is_root() {
            "user root;"
        } else {
            ""
        };
        let servers = servers(&dir);
        let conf = format!(
            "{user}\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  log_format st '$status $upstream_status $body_bytes_sent';\n\
               access_log {d}/access.log st;\n  client_body_temp_path {d};\n\
               proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n\
               scgi_temp_path {d};\n{servers}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx)
            .args([
                "-c",
                &dir.join("nginx.conf").to_string_lossy(),
                "-p",
                &dir.to_string_lossy(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx { child, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for addr in listens {
            while std::net::TcpStream::connect(addr).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "nginx did not start: {}",
                    nginx.error_log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(nginx)
    }

    /// Its directory (configuration, logs, files it serves).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The access log so far, one `status upstream_status bytes` line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master makes it stop its workers; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port on `ip`.
pub fn free_port(ip: std::net::Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
