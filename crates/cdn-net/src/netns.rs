//! Faults that need root: nftables REJECT/DROP and `unreachable` routes, applied only inside
//! a network namespace made for the run.
//!
//! A TCP REJECT needs the kernel to answer a SYN with RST (or ICMP) for some sources while
//! others connect; no socket option can do that, so it takes a packet filter, and a packet
//! filter takes `CAP_NET_ADMIN`. To never touch the host's firewall or routes, every
//! function here first checks that the process is root **and** that its network namespace
//! has no interface but `lo` (read from `/proc/thread-self/net/dev`) — true inside `unshare --net`,
//! false on any real host.
//!
//! What is applied, per origin server:
//! - one nftables table `inet cdn_net_<pid>_<n>` with an `input` chain holding the origin's
//!   firewall rules in order (first match wins): `allow` → `accept`, `drop` → `drop`,
//!   `reject` → `reject with tcp reset` (the client's `connect()` fails with
//!   `ECONNREFUSED`). Packets from the origin's own address are accepted first, so the
//!   server can fill its own accept queue. The table is replaced atomically on every
//!   reconfiguration and deleted at shutdown.
//! - for `state = "unreachable"`: `ip route replace unreachable <ip>/32 table local`, so a
//!   `connect()` to the origin fails at once with `EHOSTUNREACH` ("No route to host").

use crate::error::NetError;
use cdn_core::origin::{FirewallAction, FirewallRule};
use cdn_core::AddrSpec;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the process runs as root (effective uid 0, read from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The network interfaces of this thread's namespace (from `/proc/thread-self/net/dev`:
/// a thread may have entered a namespace of its own, see [`enter_private`]).
pub fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/thread-self/net/dev")
        .map(|s| {
            s.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether this thread is in a namespace with no interface but `lo`: one made for the run.
pub fn in_private_namespace() -> bool {
    interfaces() == ["lo"]
}

/// The path of a system tool (`nft`, `ip`, `unshare`), searched in `PATH` then the sbin
/// directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Checks everything [`NetworkAccess::PrivateNamespace`](crate::NetworkAccess) needs: root,
/// a namespace with only `lo`, and the `nft` and `ip` tools.
pub fn check() -> Result<(), NetError> {
    if !is_root() {
        return Err(NetError::Namespace("needs root".into()));
    }
    let ifs = interfaces();
    if ifs != ["lo"] {
        return Err(NetError::Namespace(format!(
            "refusing to change firewall rules or routes of a namespace with interfaces {ifs:?}: \
             run inside a namespace made for the test (`unshare --net`)"
        )));
    }
    for t in ["nft", "ip"] {
        if tool(t).is_none() {
            return Err(NetError::Namespace(format!(
                "`{t}` not found (install nftables / iproute2: crates/cdn-net/tests/setup.sh)"
            )));
        }
    }
    Ok(())
}

/// Moves the calling thread — and every thread it starts from now on, so call it before
/// building an async runtime — into a new network namespace with only `lo`, and brings `lo`
/// up. As root, a plain network namespace; as another user, a user namespace that maps the
/// user to root inside it, where the kernel allows unprivileged user namespaces (that part
/// needs a process with a single thread, e.g. at the start of `main`).
///
/// Nothing outside is touched: the namespace disappears with the last thread in it.
pub fn enter_private() -> Result<(), NetError> {
    use nix::sched::{unshare, CloneFlags};
    let fail = |what: &str, e: nix::Error| {
        NetError::Namespace(format!(
            "{what}: {e} (run as root, or where unprivileged user namespaces are allowed:              sysctl kernel.unprivileged_userns_clone=1)"
        ))
    };
    if is_root() {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| fail("unshare(CLONE_NEWNET)", e))?;
    } else {
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
            .map_err(|e| fail("unshare(CLONE_NEWUSER | CLONE_NEWNET)", e))?;
        let write = |file: &str, text: String| {
            std::fs::write(file, text).map_err(|e| NetError::io(format!("write {file}"), e))
        };
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    loopback_up()
}

/// Brings `lo` up: a new namespace starts with it down (nothing on 127.0.0.0/8 works).
pub fn loopback_up() -> Result<(), NetError> {
    check()?;
    run("ip", &["link", "set", "lo", "up"], None)
}

/// Runs `work` (starting `nft` or `ip`) on a thread of its own and waits for it without
/// blocking the runtime: a process takes tens of milliseconds to start, and a worker blocked
/// that long makes every timer due meanwhile late — at a time scale of 0.05, 40 ms is 0.8
/// virtual seconds. The thread is started from this one, so it shares its network namespace.
pub(crate) async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(NetError::Namespace(format!("namespace command: {e}"))))
}

fn run(name: &str, args: &[&str], stdin: Option<&str>) -> Result<(), NetError> {
    let path = tool(name).ok_or_else(|| NetError::Namespace(format!("`{name}` not found")))?;
    let mut child = Command::new(&path)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::io(format!("run {}", path.display()), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NetError::io(format!("write to {name}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io(format!("wait for {name}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Namespace(format!(
            "`{name} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// One origin's nftables table.
#[derive(Debug)]
pub(crate) struct NftTable {
    name: String,
}

impl NftTable {
    pub(crate) fn new() -> NftTable {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        NftTable {
            name: format!(
                "cdn_net_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// Replaces the table's rules (atomically: one nft transaction), off the runtime's
    /// threads ([`off_runtime`]).
    pub(crate) async fn apply(
        &self,
        ip: Ipv4Addr,
        ports: [u16; 2],
        rules: &[FirewallRule],
        blackhole: bool,
    ) -> Result<(), NetError> {
        let script = self.script(ip, ports, rules, blackhole);
        off_runtime(move || {
            check()?;
            run("nft", &["-f", "-"], Some(&script))
        })
        .await
    }

    fn script(
        &self,
        ip: Ipv4Addr,
        ports: [u16; 2],
        rules: &[FirewallRule],
        blackhole: bool,
    ) -> String {
        let mut s = format!(
            "table inet {n}\ndelete table inet {n}\ntable inet {n} {{\n  chain input {{\n    \
             type filter hook input priority filter; policy accept;\n    \
             ip saddr {ip} ip daddr {ip} accept\n",
            n = self.name
        );
        if blackhole {
            // The handshake passes (SYN: new; the SYN-ACK goes the other way); everything
            // after it toward the origin is eaten, so nothing the CDN sends is acknowledged.
            s.push_str(&format!(
                "    ip daddr {ip} tcp dport {{ {}, {} }} ct state established drop\n",
                ports[0], ports[1]
            ));
        }
        for r in rules {
            let source = match r.source {
                AddrSpec::Any => String::new(),
                AddrSpec::Range { first, last } if first == last => format!(" ip saddr {first}"),
                AddrSpec::Range { first, last } => format!(" ip saddr {first}-{last}"),
            };
            let verdict = match r.action {
                FirewallAction::Allow => "accept",
                FirewallAction::Drop => "drop",
                FirewallAction::Reject => "reject with tcp reset",
            };
            s.push_str(&format!(
                "    ip daddr {ip} tcp dport {{ {}, {} }}{source} {verdict}\n",
                ports[0], ports[1]
            ));
        }
        s.push_str("  }\n}\n");
        s
    }

    /// Deletes the table (best effort).
    pub(crate) fn delete(&self) {
        if check().is_ok() {
            let _ = run(
                "nft",
                &["-f", "-"],
                Some(&format!(
                    "table inet {n}\ndelete table inet {n}\n",
                    n = self.name
                )),
            );
        }
    }
}

/// Adds (`on`) or removes an `unreachable` route for `ip` in the local routing table.
pub(crate) fn set_unreachable(ip: Ipv4Addr, on: bool) -> Result<(), NetError> {
    check()?;
    let dst = format!("{ip}/32");
    if on {
        run(
            "ip",
            &["route", "replace", "unreachable", &dst, "table", "local"],
            None,
        )
    } else {
        // Absent already is fine.
        let _ = run(
            "ip",
            &["route", "del", "unreachable", &dst, "table", "local"],
            None,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_keeps_rule_order_and_exempts_the_origin_itself() {
        let t = NftTable { name: "t".into() };
        let rules = vec![
            FirewallRule {
                source: "127.0.1.1".parse().unwrap(),
                action: FirewallAction::Allow,
            },
            FirewallRule {
                source: "127.0.1.0/24".parse().unwrap(),
                action: FirewallAction::Drop,
            },
            FirewallRule {
                source: "any".parse().unwrap(),
                action: FirewallAction::Reject,
            },
        ];
        let s = t.script("127.0.0.5".parse().unwrap(), [1000, 2000], &rules, false);
        let lines: Vec<&str> = s.lines().map(str::trim).collect();
        assert_eq!(lines[5], "ip saddr 127.0.0.5 ip daddr 127.0.0.5 accept");
        assert_eq!(
            lines[6],
            "ip daddr 127.0.0.5 tcp dport { 1000, 2000 } ip saddr 127.0.1.1 accept"
        );
        assert_eq!(
            lines[7],
            "ip daddr 127.0.0.5 tcp dport { 1000, 2000 } ip saddr 127.0.1.0-127.0.1.255 drop"
        );
        assert_eq!(
            lines[8],
            "ip daddr 127.0.0.5 tcp dport { 1000, 2000 } reject with tcp reset"
        );
        // A black hole: everything after the handshake, before any firewall rule.
        let s = t.script("127.0.0.5".parse().unwrap(), [1000, 2000], &[], true);
        let lines: Vec<&str> = s.lines().map(str::trim).collect();
        assert_eq!(
            lines[6],
            "ip daddr 127.0.0.5 tcp dport { 1000, 2000 } ct state established drop"
        );
    }

    #[test]
    fn this_test_process_is_not_allowed_to_touch_a_real_hosts_firewall() {
        // On a host (or CI) the namespace has real interfaces: check() must refuse.
        if !in_private_namespace() {
            assert!(check().is_err());
        }
    }
}
