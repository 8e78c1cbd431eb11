//! Parent selection, parent-error policies, egress selection and keepalive, end to end.

use cdn_core::Tier;
mod common;
use common::*;

fn two_l2s(policy: &str, first_state: &str, extra: &str) -> String {
    format!(
        "name = \"t\"\n[cdn]\non_parent_error = \"{policy}\"\n\
         [[cdn.l2]]\nname = \"a\"\nstate = \"{first_state}\"\n\
         [[cdn.l2]]\nname = \"b\"\nstate = \"{first_state}\"\n\
         [origin]\nqueue = 100\n{extra}\n[[workload]]\narrival = \"burst\"\ncount = 40\nclients = 40\n"
    )
}

#[test]
fn relay_lets_l1_generate_the_code_when_its_parent_is_down() {
    let r = run(&two_l2s("relay", "down", ""));
    assert_eq!(r.generated(521, Tier::L1), 40, "{:?}", r.generated_by);
}

#[test]
fn next_parent_routes_around_one_dead_l2() {
    // Only L2 "a" is down; keys whose parent is "a" fail over to "b".
    let toml = "name = \"t\"\n[cdn]\non_parent_error = \"next_parent\"\n\
        [[cdn.l2]]\nname = \"a\"\nstate = \"down\"\n[[cdn.l2]]\nname = \"b\"\n\
        [origin]\nqueue = 100\n[[workload]]\narrival = \"burst\"\ncount = 40\nclients = 40\n";
    let r = run(toml);
    assert_eq!(r.count(200), 40, "{:?}", r.status);
    // Relay instead: the keys hashed to "a" fail at L1.
    let r = run(&toml.replace("next_parent", "relay"));
    let failed = r.generated(521, Tier::L1);
    assert!(
        failed > 5 && failed < 35,
        "about half the keys hash to a: {failed}"
    );
    assert_eq!(r.count(200) + failed, 40);
}

#[test]
fn go_direct_fetches_from_the_origin_when_every_l2_is_down() {
    let r = run(&two_l2s("go_direct", "down", ""));
    assert_eq!(r.generated(200, Tier::Origin), 40, "{:?}", r.generated_by);
    assert_eq!(r.origin_requests, 40);
}

#[test]
fn go_direct_leaves_from_the_l1_egress_address() {
    // The origin only admits the L1's default egress address (127.0.101.1).
    let extra = "[[origin.firewall]]\nsource = \"127.0.101.1\"\naction = \"allow\"\n\
                 [[origin.firewall]]\nsource = \"any\"\naction = \"reject\"";
    let r = run(&two_l2s("go_direct", "down", extra));
    assert_eq!(r.count(200), 40, "{:?}", r.status);
}

#[test]
fn a_hung_parent_times_out_at_l1() {
    let toml = one_request(
        "cloudflare",
        "[cdn]\nparent_read_timeout = \"5s\"\n[[cdn.l2]]\nname = \"s\"\nstate = \"hung\"",
    );
    assert_all(&run(&toml), 524, Tier::L1, 10.0 + 5_000.0);
}

#[test]
fn hash_egress_selection_pins_each_url_to_one_ip() {
    // 2 of 4 egress IPs are allowed. With hash selection a URL always leaves from the same
    // IP, so a URL that failed once fails every time; with round robin it would vary.
    let base = |sel: &str| {
        format!(
            "name = \"t\"\n[cdn]\nkeepalive = false\n[[cdn.l2]]\nname = \"s\"\n\
             egress = [\"127.0.1.1-127.0.1.4\"]\negress_selection = \"{sel}\"\n\
             cache = \"0B\"\n[[cdn.l1]]\nname = \"e\"\ncache = \"0B\"\n\
             [[origin.firewall]]\nsource = \"127.0.1.1-127.0.1.2\"\naction = \"allow\"\n\
             [[origin.firewall]]\nsource = \"any\"\naction = \"reject\"\n\
             [[workload]]\nrate = \"100/s\"\ncount = 200\nurls = 5\n"
        )
    };
    let out = run_traced(&base("hash"), 200);
    let mut per_path = std::collections::BTreeMap::<String, std::collections::BTreeSet<u16>>::new();
    for t in &out.traces {
        per_path.entry(t.path.clone()).or_default().insert(t.status);
    }
    assert!(per_path.values().all(|s| s.len() == 1), "{per_path:?}");
    let out = run_traced(&base("round_robin"), 200);
    let mut per_path = std::collections::BTreeMap::<String, std::collections::BTreeSet<u16>>::new();
    for t in &out.traces {
        per_path.entry(t.path.clone()).or_default().insert(t.status);
    }
    assert!(per_path.values().any(|s| s.len() == 2), "{per_path:?}");
}

#[test]
fn consistent_hashing_spreads_keys_over_l2s() {
    let toml = "name = \"t\"\n[[cdn.l2]]\nname = \"a\"\n[[cdn.l2]]\nname = \"b\"\n\
        [[cdn.l2]]\nname = \"c\"\n[[workload]]\nrate = \"300/s\"\n";
    let out = run_traced(toml, 300);
    let mut per_l2 = std::collections::BTreeMap::<String, u32>::new();
    for t in &out.traces {
        for s in &t.steps {
            if let cdn_core::TraceEvent::Cache { .. } = s.event {
                if ["a", "b", "c"].contains(&s.node.as_str()) {
                    *per_l2.entry(s.node.clone()).or_default() += 1;
                }
            }
        }
    }
    assert_eq!(per_l2.len(), 3, "{per_l2:?}");
    assert!(per_l2.values().all(|&n| n > 30), "{per_l2:?}");
}
