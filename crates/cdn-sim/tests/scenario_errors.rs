//! Invalid scenario files: each gives one line naming the file, the line, the key, what is
//! wrong and what is allowed — and never a panic.

use cdn_sim::scenario::{Scenario, ScenarioError};

/// Joins `lines` into a file (line 1 first) and appends a valid workload at the end unless
/// the file has one, so that the line numbers in each test are those of `lines`.
fn file(lines: &[&str]) -> String {
    let mut src = lines.join("\n");
    if !src.contains("workload") {
        src.push_str("\n[[workload]]\n");
    }
    src
}

/// Loads `lines` as `bad.toml`, which must fail at `line` on `key` with every fragment in
/// the message.
#[track_caller]
fn fails(lines: &[&str], line: usize, key: &str, fragments: &[&str]) -> ScenarioError {
    let src = file(lines);
    let err = match Scenario::from_toml(&src, "bad.toml") {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.file, "bad.toml", "{shown}");
    assert_eq!(err.line, Some(line), "{shown}");
    assert_eq!(err.key.as_deref(), Some(key), "{shown}");
    for f in fragments {
        assert!(err.message.contains(f), "missing {f:?} in: {shown}");
    }
    assert!(
        shown.starts_with(&format!("bad.toml:{line}: {key}: ")),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown:?}");
    err
}

// 1. Unknown keys, in every kind of section.

#[test]
fn unknown_top_level_key() {
    fails(
        &["name = \"x\"", "seeed = 3"],
        2,
        "seeed",
        &[
            "unknown key `seeed`; allowed: name, description, seed, profile, duration, cdn, \
             network, origin, workload, event",
            "did you mean `seed`?",
        ],
    );
}

#[test]
fn unknown_key_in_cdn() {
    fails(
        &["name = \"x\"", "[cdn]", "ssl_mode = \"full\"", "foo = 1"],
        4,
        "cdn.foo",
        &[
            "unknown key `foo`",
            "allowed: ssl_mode, connect_timeout, read_timeout, parent_read_timeout, \
             connect_attempts, retry_on, ack_timeout, write_timeout, response_header_limit, \
             collapse, stale_if_error, stale_on_error, on_parent_error, reroute_on_parent_5xx, \
             keepalive, cert_error_status, stale_while_revalidate, background_update, grace, \
             always_online, status_ttl, cache_eligibility, collapse_timeout, collapse_age, \
             collapse_uncacheable, l1, l2",
        ],
    );
}

#[test]
fn unknown_key_in_origin() {
    fails(
        &["name = \"x\"", "", "[origin]", "stat = \"down\""],
        4,
        "origin.stat",
        &[
            "unknown key `stat`",
            "allowed: hostname, http, https, cert, state,",
            "limit_conn",
        ],
    );
}

#[test]
fn unknown_key_in_an_l2_node() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"a\"",
            "[[cdn.l2]]",
            "name = \"b\"",
            "foo = 1",
        ],
        6,
        "cdn.l2[1].foo",
        &["unknown key `foo`; allowed: name, cache, egress, egress_selection, state, eviction"],
    );
}

#[test]
fn unknown_key_in_a_workload() {
    fails(
        &["name = \"x\"", "[[workload]]", "rate = \"5/s\"", "foo = 1"],
        4,
        "workload[0].foo",
        &["unknown key `foo`; allowed: start, rate, arrival, count, urls, popularity, clients, scheme, path, method"],
    );
}

#[test]
fn unknown_key_in_limit_req() {
    fails(
        &[
            "name = \"x\"",
            "[origin.limit_req]",
            "rate = \"10r/s\"",
            "foo = 1",
        ],
        4,
        "origin.limit_req.foo",
        &["unknown key `foo`; allowed: rate, burst, nodelay, delay, status"],
    );
}

#[test]
fn unknown_key_in_an_inline_table() {
    fails(
        &["name = \"x\"", "origin = { state = \"up\", wrkers = 2 }"],
        2,
        "origin.wrkers",
        &["unknown key `wrkers`", "did you mean `workers`?"],
    );
}

// 2. Bad units: the core's messages, with the accepted forms.

#[test]
fn duration_without_a_unit() {
    fails(
        &["name = \"x\"", "[cdn]", "connect_timeout = \"19\""],
        3,
        "cdn.connect_timeout",
        &["invalid duration \"19\"", "\"250ms\", \"19s\", \"2m\""],
    );
}

#[test]
fn duration_as_a_bare_number() {
    fails(
        &["name = \"x\"", "[cdn]", "read_timeout = 19"],
        3,
        "cdn.read_timeout",
        &[
            "expected a string, found 19",
            "allowed: a number with a unit: \"250ms\", \"19s\"",
        ],
    );
}

#[test]
fn size_with_a_made_up_unit() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l1]]",
            "name = \"edge\"",
            "cache = \"10 apples\"",
        ],
        4,
        "cdn.l1[0].cache",
        &[
            "invalid size \"10 apples\"",
            "\"512B\", \"10KiB\", \"64MiB\", \"1GiB\"",
        ],
    );
}

#[test]
fn workload_rate_in_words() {
    fails(
        &["name = \"x\"", "[[workload]]", "rate = \"fast\""],
        3,
        "workload[0].rate",
        &["invalid rate \"fast\"", "\"100/s\", \"600/m\""],
    );
}

#[test]
fn nginx_rate_without_r() {
    fails(
        &[
            "name = \"x\"",
            "[origin.limit_req]",
            "rate = \"10/s\"",
            "burst = 5",
        ],
        3,
        "origin.limit_req.rate",
        &["invalid nginx rate \"10/s\"", "\"10r/s\" or \"30r/m\""],
    );
}

// 3. Bad addresses.

#[test]
fn bad_egress_address() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"shield\"",
            "egress = [",
            "  \"127.0.1.1\",",
            "  \"127.0.1.300\",",
            "]",
        ],
        6,
        "cdn.l2[0].egress[1]",
        &[
            "invalid address \"127.0.1.300\"",
            "an IPv4 address \"127.0.1.1\", a CIDR block \"127.0.1.0/28\", a range \"127.0.1.1-127.0.1.10\", or \"any\"",
        ],
    );
}

#[test]
fn bad_firewall_source() {
    fails(
        &[
            "name = \"x\"",
            "[[origin.firewall]]",
            "source = \"any\"",
            "action = \"drop\"",
            "[[origin.firewall]]",
            "source = \"10.0.0.0/33\"",
            "action = \"allow\"",
        ],
        6,
        "origin.firewall[1].source",
        &[
            "invalid address \"10.0.0.0/33\"",
            "a CIDR block \"127.0.1.0/28\"",
        ],
    );
}

#[test]
fn egress_any_is_not_a_pool() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"s\"",
            "egress = [\"any\"]",
        ],
        4,
        "cdn.l2[0].egress",
        &[
            "\"any\" cannot be an egress address",
            "addresses, blocks or ranges",
        ],
    );
}

#[test]
fn egress_pool_too_large() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"s\"",
            "egress = [\"10.0.0.0/8\"]",
        ],
        4,
        "cdn.l2[0].egress",
        &["16777216 addresses; at most 65536"],
    );
}

// 4. Missing sections and keys.

#[test]
fn no_workload_section() {
    let src = "name = \"x\"\n[origin]\nstate = \"down\"\n";
    let err = Scenario::from_toml(src, "bad.toml").unwrap_err();
    assert_eq!(err.file, "bad.toml");
    assert_eq!(err.line, Some(1));
    assert_eq!(err.key.as_deref(), Some("workload"));
    assert!(err.message.contains("missing section"), "{err}");
    assert!(err.message.contains("[[workload]]"), "{err}");
}

#[test]
fn an_empty_workload_list_points_at_itself() {
    fails(
        &["name = \"x\"", "workload = []"],
        2,
        "workload",
        &["missing section"],
    );
}

#[test]
fn missing_name() {
    fails(
        &["description = \"no name\"", "seed = 1"],
        1,
        "name",
        &["missing required key `name`"],
    );
}

#[test]
fn missing_key_in_a_table_points_at_its_header() {
    fails(
        &[
            "name = \"x\"",
            "",
            "[[origin.firewall]]",
            "source = \"any\"",
        ],
        3,
        "origin.firewall[0].action",
        &[
            "missing required key `action`",
            "allowed: allow, drop, reject",
        ],
    );
    fails(
        &["name = \"x\"", "[[cdn.l1]]", "cache = \"1MiB\""],
        2,
        "cdn.l1[0].name",
        &["missing required key `name`"],
    );
}

// 5. Wrong types.

#[test]
fn integer_given_a_word() {
    fails(
        &["name = \"x\"", "[origin]", "workers = \"four\""],
        3,
        "origin.workers",
        &["expected an integer from 0 to 4294967295, found \"four\""],
    );
}

#[test]
fn boolean_given_a_word() {
    fails(
        &["name = \"x\"", "[cdn]", "collapse = \"yes\""],
        3,
        "cdn.collapse",
        &["expected a boolean (true or false), found \"yes\""],
    );
}

#[test]
fn negative_seed() {
    fails(
        &["name = \"x\"", "seed = -1"],
        2,
        "seed",
        &["expected an integer from 0 to 18446744073709551615, found -1"],
    );
}

#[test]
fn table_where_an_array_of_tables_belongs() {
    fails(
        &["name = \"x\"", "[cdn.l1]", "name = \"edge\""],
        2,
        "cdn.l1",
        &["expected an array of tables", "[[cdn.l1]]"],
    );
}

#[test]
fn section_given_a_scalar() {
    fails(
        &["name = \"x\"", "network = 3"],
        2,
        "network",
        &["expected a table, found 3"],
    );
}

// 6. Bad enum values list the allowed ones.

#[test]
fn bad_origin_state() {
    let err = fails(
        &["name = \"x\"", "[origin]", "state = \"dwn\""],
        3,
        "origin.state",
        &[],
    );
    assert_eq!(
        err.to_string(),
        "bad.toml:3: origin.state: unknown value \"dwn\"; allowed: up, down, hung, \
         blackhole, accept_queue_full, reset, close, garbage, unreachable, dns_failure"
    );
}

#[test]
fn enum_given_a_number() {
    fails(
        &["name = \"x\"", "[origin]", "state = 3"],
        3,
        "origin.state",
        &["expected a string, found 3; allowed: up, down, hung"],
    );
}

#[test]
fn bad_ssl_mode() {
    fails(
        &["name = \"x\"", "[cdn]", "ssl_mode = \"full_strict\""],
        3,
        "cdn.ssl_mode",
        &["unknown value \"full_strict\"; allowed: off, flexible, full, strict, origin_pull_strict"],
    );
}

#[test]
fn bad_profile() {
    fails(
        &["name = \"x\"", "profile = \"akamai\""],
        2,
        "profile",
        &["unknown value \"akamai\"; allowed: cloudflare, nginx, alibaba, cloudfront, fastly, varnish"],
    );
}

#[test]
fn bad_arrival() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "arrival = \"bursty\"",
            "count = 3",
        ],
        3,
        "workload[0].arrival",
        &["unknown value \"bursty\"; allowed: constant, poisson, burst"],
    );
}

#[test]
fn bad_egress_selection() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"s\"",
            "egress_selection = \"least_conn\"",
        ],
        4,
        "cdn.l2[0].egress_selection",
        &["unknown value \"least_conn\"; allowed: round_robin, random, hash"],
    );
}

#[test]
fn bad_eviction_names_the_policies() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l1]]",
            "name = \"e\"",
            "eviction = \"arc\"",
        ],
        4,
        "cdn.l1[0].eviction",
        &["unknown value \"arc\"; allowed: lru, fifo, sieve, s3fifo"],
    );
    fails(
        &["name = \"x\"", "[[cdn.l2]]", "name = \"s\"", "eviction = 2"],
        4,
        "cdn.l2[0].eviction",
        &["expected a string, found 2; allowed: lru, fifo, sieve, s3fifo"],
    );
}

#[test]
fn bad_on_parent_error() {
    fails(
        &["name = \"x\"", "[cdn]", "on_parent_error = \"retry\""],
        3,
        "cdn.on_parent_error",
        &["unknown value \"retry\"; allowed: relay, next_parent, go_direct"],
    );
}

#[test]
fn bad_workload_method_and_urls() {
    fails(
        &["name = \"x\"", "[[workload]]", "method = \"PUT\""],
        3,
        "workload[0].method",
        &["unknown value \"PUT\"; allowed: GET, HEAD, POST"],
    );
    fails(
        &["name = \"x\"", "[[workload]]", "urls = \"many\""],
        3,
        "workload[0].urls",
        &[
            "unknown value \"many\"",
            "\"distinct\", \"one\", or a number of keys",
        ],
    );
}

// 7. Semantic errors, from the core's validate() and the workload's checks.

#[test]
fn zero_workers() {
    fails(
        &["name = \"x\"", "[origin]", "queue = 3", "workers = 0"],
        4,
        "origin.workers",
        &["must be at least 1"],
    );
}

#[test]
fn nodelay_with_delay() {
    fails(
        &[
            "name = \"x\"",
            "[origin.limit_req]",
            "rate = \"10r/s\"",
            "nodelay = true",
            "delay = 3",
        ],
        5,
        "origin.limit_req.delay",
        &["nodelay and delay are exclusive"],
    );
}

#[test]
fn burst_without_count() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "rate = \"10/s\"",
            "arrival = \"burst\"",
        ],
        4,
        "workload[0].count",
        &["required when arrival = \"burst\"", "count = 20"],
    );
}

#[test]
fn duplicate_node_names() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l1]]",
            "name = \"edge\"",
            "[[cdn.l2]]",
            "name = \"shield\"",
            "[[cdn.l2]]",
            "name = \"edge\"",
        ],
        7,
        "cdn.l2[1].name",
        &["node name \"edge\" is used twice; names must be unique"],
    );
}

#[test]
fn l1_nodes_cannot_be_down() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l1]]",
            "name = \"a\"",
            "[[cdn.l1]]",
            "name = \"b\"",
            "state = \"down\"",
        ],
        6,
        "cdn.l1[1].state",
        &["allowed for L1: up"],
    );
}

#[test]
fn zero_urls() {
    fails(
        &["name = \"x\"", "[[workload]]", "urls = 0"],
        3,
        "workload[0].urls",
        &["a number of keys N >= 1"],
    );
}

#[test]
fn negative_zipf_exponent() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "urls = 100",
            "popularity = \"zipf:-1\"",
        ],
        4,
        "workload[0].popularity",
        &["must be more than 0", "\"zipf:1.0\""],
    );
}

#[test]
fn path_without_key() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "urls = 10",
            "path = \"/index.html\"",
        ],
        4,
        "workload[0].path",
        &["must contain \"{key}\"", "unless urls = \"one\""],
    );
}

#[test]
fn second_workload_is_named_by_index() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[workload]]",
            "clients = 0",
        ],
        4,
        "workload[1].clients",
        &["must be at least 1"],
    );
}

#[test]
fn cert_error_status_outside_5xx() {
    fails(
        &["name = \"x\"", "[cdn]", "cert_error_status = 404"],
        3,
        "cdn.cert_error_status",
        &["allowed: 500..=599"],
    );
}

/// Attempts × timeouts could once overflow; with at most 100 attempts of the longest
/// duration a file can write (~5,000,000 h) they cannot, and the attempts are refused first.
#[test]
fn timeouts_that_overflow() {
    fails(
        &[
            "name = \"x\"",
            "[cdn]",
            "connect_timeout = \"4000000h\"",
            "connect_attempts = 4000000000",
        ],
        4,
        "cdn.connect_attempts",
        &["allowed: 1..=100"],
    );
}

#[test]
fn empty_name_and_zero_duration() {
    fails(&["name = \"\""], 1, "name", &["must not be empty"]);
    fails(
        &["name = \"x\"", "duration = \"0s\""],
        2,
        "duration",
        &["more than 0s"],
    );
}

// 8. TOML syntax errors.

#[test]
fn syntax_error_is_condensed_to_one_line() {
    let src = "name = \"x\"\n[origin\nstate = \"down\"\n";
    let err = Scenario::from_toml(src, "bad.toml").unwrap_err();
    assert_eq!(err.file, "bad.toml");
    assert_eq!(err.line, Some(2));
    assert_eq!(err.key, None);
    assert_eq!(
        err.to_string(),
        "bad.toml:2: TOML syntax error: invalid table header; expected `.`, `]`"
    );
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    let src = "name = \"x\"\nseed = 1\nseed = 2\n";
    let err = Scenario::from_toml(src, "bad.toml").unwrap_err();
    assert_eq!(err.line, Some(3));
    assert!(err.message.contains("duplicate key `seed`"), "{err}");
}

#[test]
fn unterminated_string() {
    let src = "name = \"x\n";
    let err = Scenario::from_toml(src, "bad.toml").unwrap_err();
    assert_eq!(err.line, Some(1));
    assert!(err.message.starts_with("TOML syntax error: "), "{err}");
    assert!(!err.to_string().contains('\n'));
}

// 9. Event patches.

#[test]
fn unknown_key_inside_an_event_patch() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "at = \"3s\"",
            "origin = { state = \"down\", foo = 1 }",
        ],
        5,
        "event[0].origin.foo",
        &["unknown key `foo`; allowed: hostname, http, https"],
    );
}

#[test]
fn bad_value_inside_an_event_patch() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "at = \"1s\"",
            "origin.state = \"down\"",
            "[[event]]",
            "at = \"3s\"",
            "cdn = { read_timeout = \"5\" }",
        ],
        8,
        "event[1].cdn.read_timeout",
        &["invalid duration \"5\""],
    );
}

#[test]
fn unknown_l2_name_in_an_event() {
    fails(
        &[
            "name = \"x\"",
            "[[cdn.l2]]",
            "name = \"shield-eu\"",
            "[[workload]]",
            "[[event]]",
            "at = \"3s\"",
            "l2 = { name = \"shield-us\", state = \"down\" }",
        ],
        7,
        "event[0].l2.name",
        &["no [[cdn.l2]] node is named \"shield-us\"; allowed: shield-eu"],
    );
}

#[test]
fn bad_state_in_an_l2_patch_blames_the_patch() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "at = \"3s\"",
            "l2 = [{ name = \"shield-1\", state = \"dead\" }]",
        ],
        5,
        "event[0].l2[0].state",
        &["unknown value \"dead\"; allowed: up, down, hung"],
    );
}

#[test]
fn events_cannot_patch_the_run() {
    for (k, v) in [
        ("name", "\"y\""),
        ("seed", "3"),
        ("profile", "\"nginx\""),
        ("workload", "[]"),
    ] {
        fails(
            &[
                "name = \"x\"",
                "[[workload]]",
                "[[event]]",
                "at = \"3s\"",
                &format!("{k} = {v}"),
            ],
            5,
            &format!("event[0].{k}"),
            &[
                &format!("`{k}` cannot be changed by an event"),
                "allowed: at, cdn, network, origin, l2",
            ],
        );
    }
}

#[test]
fn event_without_at_or_changes() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "origin = { state = \"down\" }",
        ],
        3,
        "event[0].at",
        &["missing required key `at`", "\"19s\""],
    );
    fails(
        &["name = \"x\"", "[[workload]]", "[[event]]", "at = \"3s\""],
        3,
        "event[0]",
        &["changes nothing"],
    );
}

#[test]
fn event_that_breaks_validation_is_blamed() {
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "at = \"3s\"",
            "[event.origin]",
            "workers = 0",
        ],
        6,
        "event[0].origin.workers",
        &["must be at least 1"],
    );
    // The patch adds a limit_req with no rate: blamed on the patch's limit_req.
    fails(
        &[
            "name = \"x\"",
            "[[workload]]",
            "[[event]]",
            "at = \"3s\"",
            "origin = { limit_req = { burst = 3 } }",
        ],
        5,
        "event[0].origin.limit_req.rate",
        &["missing required key `rate`", "\"10r/s\""],
    );
}

// No input panics.

const BASE: &str = r#"name = "mangle"
seed = 7
profile = "nginx"
duration = "3s"
[cdn]
ssl_mode = "strict"
connect_timeout = "2s"
connect_attempts = 2
[[cdn.l1]]
name = "edge"
cache = "1MiB"
[[cdn.l2]]
name = "shield"
egress = ["127.0.1.1-127.0.1.4", "127.0.2.0/30"]
egress_selection = "hash"
[network]
l2_origin_rtt = "50ms"
[origin]
state = "up"
workers = 2
[[origin.firewall]]
source = "127.0.1.1"
action = "drop"
[origin.limit_req]
rate = "10r/s"
burst = 5
nodelay = true
[origin.limit_conn]
max = 2
[[workload]]
rate = "100/s"
arrival = "poisson"
urls = 10
popularity = "zipf:1.1"
[[event]]
at = "1s"
origin = { state = "hung" }
l2 = { name = "shield", state = "down" }
"#;

fn must_not_panic(src: &str) {
    let out = std::panic::catch_unwind(|| Scenario::from_toml(src, "m.toml"));
    match out {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let shown = e.to_string();
            assert!(
                !shown.contains('\n'),
                "multi-line error for {src:?}: {shown:?}"
            );
            assert!(shown.starts_with("m.toml"), "{shown}");
        }
        Err(_) => panic!("from_toml panicked on {src:?}"),
    }
}

#[test]
fn mangled_files_never_panic() {
    assert!(Scenario::from_toml(BASE, "m.toml").is_ok());
    let lines: Vec<&str> = BASE.lines().collect();
    // Every prefix.
    for (i, _) in BASE.char_indices() {
        must_not_panic(&BASE[..i]);
    }
    // Every line dropped, duplicated, or with its value replaced by odd values.
    let odd = [
        "0",
        "-1",
        "1e400",
        "\"\"",
        "\"0s\"",
        "\"99999999999999999999h\"",
        "[]",
        "{}",
        "true",
        "\"any\"",
        "\"zipf:nan\"",
        "\"zipf:inf\"",
        "18446744073709551615",
        "1979-05-27T07:32:00Z",
        "[{}]",
        "\"0/s\"",
        "\"1e3/s\"",
        "\"255.255.255.255-0.0.0.0\"",
        "\"0.0.0.0/0\"",
    ];
    for i in 0..lines.len() {
        let mut dropped = lines.clone();
        dropped.remove(i);
        must_not_panic(&dropped.join("\n"));
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        must_not_panic(&doubled.join("\n"));
        if let Some((k, _)) = lines[i].split_once(" = ") {
            for v in odd {
                let mut changed = lines.clone();
                let line = format!("{k} = {v}");
                changed[i] = &line;
                must_not_panic(&changed.join("\n"));
            }
        }
    }
}

mod prop {
    use super::must_not_panic;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "name",
        "seed",
        "profile",
        "duration",
        "state",
        "workers",
        "rate",
        "count",
        "urls",
        "popularity",
        "egress",
        "source",
        "action",
        "at",
        "l2",
        "origin",
        "cdn",
        "cache",
        "connect_timeout",
        "nodelay",
        "delay",
        "arrival",
        "clients",
        "path",
        "method",
    ];
    const VALUES: &[&str] = &[
        "\"x\"",
        "0",
        "-3",
        "1.5",
        "true",
        "\"10s\"",
        "\"10r/s\"",
        "\"100/s\"",
        "\"burst\"",
        "\"down\"",
        "[\"127.0.0.1\"]",
        "{ state = \"down\" }",
        "{ name = \"shield-1\" }",
        "\"zipf:0\"",
        "[]",
        "\"1GiB\"",
        "\"any\"",
    ];
    const HEADERS: &[&str] = &[
        "[cdn]",
        "[[cdn.l1]]",
        "[[cdn.l2]]",
        "[origin]",
        "[origin.limit_req]",
        "[[origin.firewall]]",
        "[network]",
        "[[workload]]",
        "[[event]]",
        "[event.origin]",
    ];

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            (0..KEYS.len(), 0..VALUES.len())
                .prop_map(|(k, v)| format!("{} = {}", KEYS[k], VALUES[v])),
            (0..HEADERS.len()).prop_map(|h| HEADERS[h].to_string()),
            "[ -~]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn tomlish_files_never_panic(lines in proptest::collection::vec(line(), 0..16)) {
            must_not_panic(&format!("name = \"p\"\n{}", lines.join("\n")));
        }

        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
            must_not_panic(&src);
        }
    }
}

// Size and shape limits (issue 8): a file asks for something the simulator cannot hold, or
// is large enough to expose a loader that is not linear.

/// 20,000 `[[cdn.l1]]` tables load in time linear in the file (the line of each key was
/// found by counting newlines from the start: 6.2 s in a release build, far more in a debug
/// one). Measured in a debug build on the 2-core machine at load average 7: 3.5 s to load,
/// 4.1 s to load and locate the error. The bound, 30 s, is about 8 times that, for a machine
/// busier still, and below what the quadratic loader took.
#[test]
fn twenty_thousand_nodes_load_in_linear_time() {
    let mut src = String::from("name = \"many\"\n");
    for i in 0..20_000 {
        src.push_str(&format!("[[cdn.l1]]\nname = \"edge-{i}\"\n"));
    }
    src.push_str("[[workload]]\ncount = 1\n");
    let started = std::time::Instant::now();
    let s = Scenario::from_toml(&src, "many.toml").unwrap();
    let took = started.elapsed();
    assert_eq!(s.cdn.l1.len(), 20_000);
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    // An error in the last node is still pinned to it (found by bisection, not a scan).
    let bad = src.replace("name = \"edge-19999\"", "name = \"edge-0\"");
    let started = std::time::Instant::now();
    let err = Scenario::from_toml(&bad, "many.toml").unwrap_err();
    let located = started.elapsed();
    assert!(
        located < std::time::Duration::from_secs(30),
        "took {located:?}"
    );
    assert_eq!(err.key.as_deref(), Some("cdn.l1[19999].name"), "{err}");
    assert_eq!(err.line, Some(2 + 2 * 19_999 + 1), "{err}");
}

#[test]
fn too_many_events_or_event_node_copies_are_refused() {
    let mut src = String::from("name = \"ev\"\n[[workload]]\ncount = 1\n");
    for i in 0..10_001 {
        src.push_str(&format!(
            "[[event]]\nat = \"{i}ms\"\norigin = {{ status = 200 }}\n"
        ));
    }
    let err = Scenario::from_toml(&src, "ev.toml").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("event[0]"), "{err}");
    assert!(err.message.contains("at most 10000 events"), "{err}");

    let mut src = String::from("name = \"ev\"\n[[workload]]\ncount = 1\n");
    for i in 0..2_000 {
        src.push_str(&format!("[[cdn.l1]]\nname = \"edge-{i}\"\n"));
    }
    for i in 0..500 {
        src.push_str(&format!(
            "[[event]]\nat = \"{i}ms\"\norigin = {{ status = 200 }}\n"
        ));
    }
    let err = Scenario::from_toml(&src, "ev.toml").unwrap_err();
    assert!(
        err.message.contains("500 [[event]] tables with 2001 nodes"),
        "{err}"
    );
}

#[test]
fn egress_pools_are_bounded_in_all() {
    let mut src = String::from("name = \"eg\"\n");
    for i in 0..17 {
        src.push_str(&format!(
            "[[cdn.l2]]\nname = \"s{i}\"\negress = [\"127.{i}.0.0/16\"]\n"
        ));
    }
    src.push_str("[[workload]]\n");
    fails(
        &[&src],
        2 + 3 * 16 + 2,
        "cdn.l2[16].egress",
        &["1114112 addresses", "at most 1048576"],
    );
}

#[test]
fn connect_attempts_are_bounded() {
    fails(
        &["name = \"x\"", "[cdn]", "connect_attempts = 101"],
        3,
        "cdn.connect_attempts",
        &["allowed: 1..=100"],
    );
}
