//! Scenario files that are valid: the contract's full example, defaults, events.

use cdn_core::cache::Eviction;
use cdn_core::origin::{FirewallAction, LimitConnSpec, LimitReqSpec, NginxRate};
use cdn_core::{
    AddrSpec, CdnConfig, CertState, EgressSelection, HttpsListener, NetworkConfig, NodeState,
    OriginConfig, OriginState, ParentErrorPolicy, Profile, Scheme, SslMode,
};
use cdn_sim::scenario::{Arrival, Popularity, Scenario, Urls, Workload, WorkloadMethod};
use std::time::Duration;

/// Every snippet of SCENARIO-FORMAT.md, in order, as one file.
const CONTRACT_EXAMPLE: &str = r#"
name = "firewall-drop"           # required
description = "Origin firewall silently drops the CDN's back-to-origin IPs"
seed = 7                         # default 0; same seed ⇒ byte-identical report
profile = "cloudflare"           # cloudflare | nginx | alibaba (more welcome): failure → status
duration = "10s"                 # default "10s": how long workloads generate arrivals

[cdn]
ssl_mode = "full"                # off | flexible | full | strict | origin_pull_strict
connect_timeout = "19s"          # per TCP connect attempt, L2→origin and L1→L2
read_timeout = "100s"            # request sent → first response byte
collapse = true                  # request collapsing (cache lock) at every tier
stale_if_error = true            # honour stale-if-error from the origin
on_parent_error = "relay"        # relay | next_parent | go_direct — what L1 does when its L2 fails
keepalive = true                 # reuse idle connections to the next tier; the egress IP is
                                 # picked for each *new* L2→origin connection

[[cdn.l1]]
name = "edge-fra"
cache = "64MiB"                  # byte capacity; "0B" disables caching at this node

[[cdn.l2]]
name = "shield-eu"
cache = "1GiB"
egress = ["127.0.1.1-127.0.1.10"]  # the back-to-origin IP pool (list of addresses/blocks/ranges)
egress_selection = "round_robin"   # round_robin | random | hash (by cache key)

[origin]
hostname = "www.example.com"
http = true                      # something listens on port 80 (plain HTTP)
https = "tls"                    # what is on port 443: "tls" | "plain" (HTTP, no TLS) | "none"
cert = "valid"                   # valid | expired | self_signed | wrong_host | origin_ca
state = "up"                     # up | down (nothing listens) | hung (accepts, never answers)
                                 # | accept_queue_full | reset (RST after reading the request)
                                 # | close (FIN, no response) | garbage (non-HTTP reply)
                                 # | unreachable (no route to host) | dns_failure (name does not resolve)
workers = 4                      # requests served at once
queue = 16                       # requests waiting for a worker; beyond that → 503
service_time = "20ms"            # time to produce a response
status = 200                     # what a healthy request gets
cache_control = "max-age=60"     # Cache-Control on its responses ("" for none)
object_size = "10KiB"

[[origin.firewall]]              # evaluated in order, first match wins; no match ⇒ allow
source = "127.0.1.1-127.0.1.3"
action = "allow"                 # allow | drop | reject

[origin.limit_req]               # nginx limit_req, keyed by the connecting (L2 egress) address
rate = "10r/s"
burst = 5
nodelay = true                   # or: delay = 3

[origin.limit_conn]              # nginx limit_conn, per connecting address
max = 2

[[workload]]
start = "0s"
rate = "100/s"                   # aggregate; or `count = 20` with arrival = "burst"
arrival = "constant"             # constant | poisson | burst (all `count` requests at `start`)
count = 300                      # optional cap on requests
urls = "distinct"                # distinct (every request a new key) | one | a number N of keys
popularity = "zipf:1.0"          # with urls = N: uniform | zipf:S
clients = 50                     # distinct client addresses
scheme = "https"                 # what visitors use
path = "/assets/{key}.png"       # URL template ({key} = key number); the default has a
                                 # static-file extension so every profile treats it as cacheable

[[event]]
at = "3s"
origin = { state = "down" }      # a partial override of any section above
"#;

fn parse(src: &str) -> Scenario {
    Scenario::from_toml(src, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn the_contract_example_parses_with_every_value() {
    let s = parse(CONTRACT_EXAMPLE);
    assert_eq!(s.name, "firewall-drop");
    assert_eq!(
        s.description,
        "Origin firewall silently drops the CDN's back-to-origin IPs"
    );
    assert_eq!(
        (s.seed, s.profile, s.duration),
        (7, Profile::Cloudflare, secs(10))
    );

    let cdn = &s.cdn;
    assert_eq!(cdn.ssl_mode, SslMode::Full);
    assert_eq!(cdn.connect_timeout, Some(secs(19)));
    assert_eq!(cdn.read_timeout, Some(secs(100)));
    assert!(cdn.collapse && cdn.stale_if_error && cdn.keepalive);
    assert_eq!(cdn.on_parent_error, ParentErrorPolicy::Relay);
    assert_eq!(cdn.l1.len(), 1);
    assert_eq!(cdn.l1[0].name, "edge-fra");
    assert_eq!(cdn.l1[0].cache, Some(64 << 20));
    assert_eq!(cdn.l2[0].name, "shield-eu");
    assert_eq!(cdn.l2[0].cache, Some(1 << 30));
    assert_eq!(
        cdn.l2[0].egress,
        ["127.0.1.1-127.0.1.10".parse::<AddrSpec>().unwrap()]
    );
    assert_eq!(cdn.l2[0].egress_selection, EgressSelection::RoundRobin);

    let o = &s.origin;
    assert_eq!(o.hostname, "www.example.com");
    assert!(o.http);
    assert_eq!(
        (o.https, o.cert, o.state),
        (HttpsListener::Tls, CertState::Valid, OriginState::Up)
    );
    assert_eq!((o.workers, o.queue, o.status), (4, 16, 200));
    assert_eq!(o.service_time, Duration::from_millis(20));
    assert_eq!(o.cache_control, "max-age=60");
    assert_eq!(o.object_size, 10 * 1024);
    assert_eq!(o.firewall.len(), 1);
    assert_eq!(o.firewall[0].action, FirewallAction::Allow);
    assert_eq!(
        o.limit_req,
        Some(LimitReqSpec {
            rate: NginxRate::per_second(10).unwrap(),
            burst: 5,
            nodelay: true,
            delay: None,
            status: 503,
        })
    );
    assert_eq!(
        o.limit_conn,
        Some(LimitConnSpec {
            max: 2,
            status: 503
        })
    );

    let w = &s.workloads[0];
    assert_eq!(w.start, Duration::ZERO);
    assert_eq!(w.rate.per_second(), 100.0);
    assert_eq!(w.arrival, Arrival::Constant);
    assert_eq!(w.count, Some(300));
    assert_eq!(w.urls, Urls::Distinct);
    assert_eq!(w.popularity, Popularity::Zipf(1.0));
    assert_eq!(w.clients, 50);
    assert_eq!(w.scheme, Scheme::Https);
    assert_eq!(w.path, "/assets/{key}.png");

    assert_eq!(s.events.len(), 1);
    let e = &s.events[0];
    assert_eq!(e.at, secs(3));
    let header = CONTRACT_EXAMPLE.lines().position(|l| l == "[[event]]");
    assert_eq!(Some(e.line), header.map(|i| i + 1));
    assert_eq!(e.origin.state, OriginState::Down);
    assert_eq!(e.changes, "origin.state = \"down\"");
    // Everything else in the event's world is the base document.
    assert_eq!(e.cdn, s.cdn);
    assert_eq!(e.network, s.network);
    assert_eq!(
        e.origin,
        OriginConfig {
            state: OriginState::Down,
            ..s.origin.clone()
        }
    );
}

#[test]
fn a_minimal_file_gets_every_documented_default() {
    let s = parse("name = \"minimal\"\n[[workload]]\n");
    assert_eq!(s.description, "");
    assert_eq!(s.seed, 0);
    assert_eq!(s.profile, Profile::Cloudflare);
    assert_eq!(s.duration, secs(10));
    assert_eq!(s.cdn, CdnConfig::default());
    assert_eq!(s.cdn.l1[0].name, "edge-1");
    assert_eq!(s.cdn.l2[0].name, "shield-1");
    assert_eq!(s.cdn.l1[0].eviction, Eviction::Lru);
    assert_eq!(s.cdn.l2[0].eviction, Eviction::Lru);
    assert_eq!(s.cdn.connect_timeout, None, "left to the profile");
    assert_eq!(s.cdn.timeouts(s.profile).connect, secs(19));
    assert_eq!(s.network, NetworkConfig::default());
    assert_eq!(s.network.client_rtt, Duration::from_millis(10));
    assert_eq!(s.network.l1_l2_rtt, Duration::from_millis(10));
    assert_eq!(s.network.l2_origin_rtt, Duration::from_millis(20));
    assert_eq!(s.origin, OriginConfig::default());
    assert!(s.events.is_empty());

    let w = &s.workloads[0];
    assert_eq!(*w, Workload::default());
    assert_eq!(w.start, Duration::ZERO);
    assert_eq!(w.rate.per_second(), 10.0);
    assert_eq!(w.arrival, Arrival::Constant);
    assert_eq!(w.count, None);
    assert_eq!(w.urls, Urls::Distinct);
    assert_eq!(w.popularity, Popularity::Uniform);
    assert_eq!(w.clients, 10);
    assert_eq!(w.scheme, Scheme::Https);
    assert_eq!(w.path, "/assets/{key}.png");
    assert_eq!(w.method, WorkloadMethod::Get);
}

#[test]
fn every_profile_and_the_new_keys_parse() {
    for p in [
        "cloudflare",
        "nginx",
        "alibaba",
        "cloudfront",
        "fastly",
        "varnish",
    ] {
        let s = parse(&format!("name = \"p\"\nprofile = \"{p}\"\n[[workload]]\n"));
        assert_eq!(s.profile.as_str(), p);
    }
    let s = parse(
        r#"
name = "extras"
[cdn]
parent_read_timeout = "30s"
connect_attempts = 3
cert_error_status = 502
[[cdn.l1]]
name = "edge-a"
eviction = "sieve"
[[cdn.l2]]
name = "shield-a"
state = "hung"
eviction = "s3fifo"
[network]
client_rtt = "5ms"
l1_l2_rtt = "15ms"
l2_origin_rtt = "80ms"
[origin.limit_req]
rate = "30r/m"
delay = 3
status = 429
[[workload]]
urls = 100
popularity = "zipf:0.8"
method = "HEAD"
arrival = "burst"
count = 20
scheme = "http"
"#,
    );
    assert_eq!(s.cdn.parent_read_timeout, Some(secs(30)));
    assert_eq!(s.cdn.connect_attempts, Some(3));
    assert_eq!(s.cdn.cert_error_status, Some(502));
    assert_eq!(s.cdn.l2[0].state, NodeState::Hung);
    assert_eq!(s.cdn.l1[0].eviction, Eviction::Sieve);
    assert_eq!(s.cdn.l2[0].eviction, Eviction::S3Fifo);
    assert_eq!(s.network.l2_origin_rtt, Duration::from_millis(80));
    let lr = s.origin.limit_req.unwrap();
    assert_eq!((lr.delay, lr.status), (Some(3), 429));
    let w = &s.workloads[0];
    assert_eq!(w.urls, Urls::Keys(100));
    assert_eq!(w.popularity, Popularity::Zipf(0.8));
    assert_eq!(w.method, WorkloadMethod::Head);
    assert_eq!(
        (w.arrival, w.count, w.scheme),
        (Arrival::Burst, Some(20), Scheme::Http)
    );
}

#[test]
fn events_resolve_cumulatively_in_time_order() {
    // Written out of order: the 5s event must see the 2s event's change.
    let s = parse(
        r#"
name = "two-events"
[[workload]]

[[event]]
at = "5s"
cdn = { read_timeout = "5s" }

[[event]]
at = "2s"
origin = { state = "hung", workers = 2 }
"#,
    );
    let [first, second] = &s.events[..] else {
        panic!("{:?}", s.events)
    };
    assert_eq!((first.at, first.line), (secs(2), 9));
    assert_eq!((second.at, second.line), (secs(5), 5));
    assert_eq!(first.origin.state, OriginState::Hung);
    assert_eq!(first.cdn.read_timeout, None);
    assert_eq!(first.changes, "origin.state = \"hung\"; origin.workers = 2");
    assert_eq!(
        second.origin.state,
        OriginState::Hung,
        "earlier patch persists"
    );
    assert_eq!(second.origin.workers, 2);
    assert_eq!(second.cdn.read_timeout, Some(secs(5)));
    assert_eq!(second.changes, "cdn.read_timeout = \"5s\"");
    // The base document is untouched.
    assert_eq!(s.origin.state, OriginState::Up);
}

#[test]
fn equal_times_keep_file_order_and_later_patches_win() {
    let s = parse(
        r#"
name = "ties"
[[workload]]
[[event]]
at = "1s"
origin = { status = 500 }
[[event]]
at = "1s"
origin = { status = 503 }
"#,
    );
    assert_eq!(s.events[0].origin.status, 500);
    assert_eq!(s.events[1].origin.status, 503);
}

#[test]
fn l2_patches_by_name_change_only_that_node() {
    let s = parse(
        r#"
name = "shield-fails"
[[cdn.l2]]
name = "shield-eu"
cache = "1GiB"
[[cdn.l2]]
name = "shield-us"

[[workload]]

[[event]]
at = "1s"
l2 = { name = "shield-eu", state = "down" }

[[event]]
at = "2s"
l2 = [{ name = "shield-us", state = "hung" }, { name = "shield-eu", state = "up" }]
"#,
    );
    let e1 = &s.events[0];
    assert_eq!(e1.cdn.l2[0].state, NodeState::Down);
    assert_eq!(
        e1.cdn.l2[0].cache,
        Some(1 << 30),
        "other keys of the node survive"
    );
    assert_eq!(e1.cdn.l2[1].state, NodeState::Up);
    assert_eq!(e1.changes, "cdn.l2[\"shield-eu\"].state = \"down\"");
    let e2 = &s.events[1];
    assert_eq!(e2.cdn.l2[0].state, NodeState::Up);
    assert_eq!(e2.cdn.l2[1].state, NodeState::Hung);
}

#[test]
fn l2_patches_reach_the_default_node() {
    let s = parse(
        "name = \"d\"\n[[workload]]\n[[event]]\nat = \"1s\"\nl2 = { name = \"shield-1\", state = \"down\" }\n",
    );
    assert_eq!(s.events[0].cdn.l2.len(), 1);
    assert_eq!(s.events[0].cdn.l2[0].name, "shield-1");
    assert_eq!(s.events[0].cdn.l2[0].state, NodeState::Down);
}

#[test]
fn arrays_in_patches_replace_and_tables_merge() {
    let s = parse(
        r#"
name = "fw"
[[workload]]
[origin]
workers = 8
[[origin.firewall]]
source = "127.0.1.1"
action = "allow"
[[origin.firewall]]
source = "any"
action = "reject"
[origin.limit_req]
rate = "10r/s"
burst = 5

[[event]]
at = "1s"
[event.origin]
firewall = [{ source = "any", action = "drop" }]
limit_req = { burst = 50 }
"#,
    );
    let o = &s.events[0].origin;
    assert_eq!(o.firewall.len(), 1);
    assert_eq!(o.firewall[0].action, FirewallAction::Drop);
    assert_eq!(o.workers, 8);
    let lr = o.limit_req.as_ref().unwrap();
    assert_eq!(
        (lr.rate, lr.burst),
        (NginxRate::per_second(10).unwrap(), 50)
    );
}

#[test]
fn files_are_read_from_disk() {
    let dir = std::env::temp_dir().join(format!("cdn-sim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ok.toml");
    std::fs::write(&path, CONTRACT_EXAMPLE).unwrap();
    assert_eq!(Scenario::from_path(&path).unwrap().name, "firewall-drop");

    let missing = dir.join("missing.toml");
    let err = Scenario::from_path(&missing).unwrap_err();
    assert_eq!(err.file, missing.display().to_string());
    assert_eq!(err.line, None);
    assert!(
        err.message.starts_with("cannot read the scenario: "),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_checks_scenarios_built_in_code() {
    let mut s = parse("name = \"v\"\n[[workload]]\n");
    assert_eq!(s.validate(), Ok(()));
    s.workloads[0].clients = 0;
    let err = s.validate().unwrap_err();
    assert_eq!(err.key.as_deref(), Some("workload[0].clients"));
    assert_eq!(err.line, None);
    assert_eq!(
        err.to_string(),
        "scenario \"v\": workload[0].clients: must be at least 1"
    );
}

/// Every complete example in docs/scenarios.md (a ```toml block starting with `name =`)
/// loads, and every documented error is the one the loader gives.
#[test]
fn the_reference_examples_are_accurate() {
    let doc = include_str!("../../../docs/scenarios.md");
    let blocks: Vec<(&str, &str)> = doc
        .split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|b| b.split_once('\n'))
        .collect();
    let mut complete = 0;
    for (i, (lang, body)) in blocks.iter().enumerate() {
        if *lang == "toml" && body.starts_with("name =") {
            parse(body);
            complete += 1;
        }
        // A bad example: a ```toml block whose first line is `# FILE (invalid)`, followed
        // by a ```text block holding the exact error.
        if let Some(file) = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .and_then(|l| l.strip_suffix(" (invalid)"))
        {
            let err = Scenario::from_toml(body, file).unwrap_err();
            let (lang, shown) = blocks[i + 1];
            assert_eq!(lang, "text");
            assert_eq!(shown.trim(), err.to_string());
        }
    }
    assert!(complete >= 2, "docs/scenarios.md lost its examples");
}

/// `[cdn]` keys a file leaves out take the profile's value; keys it writes win — in the base
/// document and in every event's world.
#[test]
fn unset_cdn_keys_take_the_profile_s_values_and_written_keys_win() {
    let nginx = parse("name = \"n\"\nprofile = \"nginx\"\n[[workload]]\n");
    assert!(!nginx.cdn.collapse, "proxy_cache_lock off");
    assert_eq!(nginx.cdn.on_parent_error, ParentErrorPolicy::NextParent);
    let t = nginx.cdn.timeouts(nginx.profile);
    assert_eq!(
        t.parent_read, t.read,
        "an nginx edge waits as long as its shield"
    );
    let written = parse(
        "name = \"n\"\nprofile = \"nginx\"\n[cdn]\ncollapse = true\non_parent_error = \"relay\"\n\
         [[workload]]\n[[event]]\nat = \"1s\"\ncdn = { read_timeout = \"5s\" }\n",
    );
    assert!(written.cdn.collapse);
    assert_eq!(written.cdn.on_parent_error, ParentErrorPolicy::Relay);
    assert!(
        written.events[0].cdn.collapse,
        "the event keeps the written key"
    );
    let cloudfront = parse("name = \"c\"\nprofile = \"cloudfront\"\n[[workload]]\n");
    assert_eq!(cloudfront.cdn.ssl_mode, SslMode::Strict);
    let ev = parse(
        "name = \"c\"\nprofile = \"cloudfront\"\n[[workload]]\n[[event]]\nat = \"1s\"\n\
         origin = { state = \"down\" }\n",
    );
    assert_eq!(ev.events[0].cdn.ssl_mode, SslMode::Strict, "events too");
    // Without a profile, the library's default is Cloudflare's.
    assert_eq!(
        CdnConfig::default(),
        CdnConfig::for_profile(Profile::Cloudflare)
    );
}
