//! The scenario's topology — clients → L1 edges → L2 parents → origin — with what each part
//! did: every back-to-origin address of every L2 pool coloured by what the origin's kernel
//! and firewall do to a SYN from it (the core's own [`Origin::connect`]), every firewall rule
//! coloured by its action with the number of pool addresses it decides, and under each tier
//! the responses it generated in the run.

use super::{human, num, scenario_word, status_color, text_width, tier_color, Svg};
use crate::report::Report;
use crate::scenario::Scenario;
use cdn_core::config::NodeConfig;
use cdn_core::origin::{ConnectVerdict, FirewallAction, Origin};
use cdn_core::{AddrSpec, OriginConfig, Tier};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// At most this many pool addresses are drawn one by one per node; larger pools are drawn
/// as a proportional bar.
const DOTS: usize = 48;

/// The colour and legend text of a connect verdict.
pub fn verdict_style(v: ConnectVerdict) -> (&'static str, &'static str) {
    match v {
        ConnectVerdict::Accept => ("#43a047", "connects"),
        ConnectVerdict::Refuse => ("#c62828", "refused (RST)"),
        ConnectVerdict::Drop => ("#ef6c00", "SYN dropped"),
        ConnectVerdict::Unreachable => ("#9e9d24", "unreachable"),
    }
}

fn action_style(a: FirewallAction) -> (&'static str, &'static str) {
    match a {
        FirewallAction::Allow => ("#43a047", "allow"),
        FirewallAction::Drop => ("#ef6c00", "drop"),
        FirewallAction::Reject => ("#c62828", "reject"),
    }
}

/// The addresses of a node's pool, as the run builds it (defaults included), deduplicated
/// and sorted.
pub fn pool_addresses(nodes: &[NodeConfig], index: usize, is_l1: bool) -> Vec<Ipv4Addr> {
    let node = &nodes[index];
    let specs: Vec<AddrSpec> = if node.egress.is_empty() {
        vec![NodeConfig::default_egress(is_l1, index)]
    } else {
        node.egress.clone()
    };
    let set: BTreeSet<Ipv4Addr> = specs.iter().flat_map(|s| s.addresses()).collect();
    set.into_iter().collect()
}

/// The port the L2s connect to for the scenario's first workload.
fn origin_port(scenario: &Scenario) -> u16 {
    let scheme = scenario
        .workloads
        .first()
        .map(|w| w.scheme)
        .unwrap_or(cdn_core::Scheme::Https);
    scenario.cdn.ssl_mode.origin_leg(scheme).port
}

/// Draws the topology of `scenario` at the start of the run, with `report`'s counts.
pub fn render(scenario: &Scenario, report: &Report) -> String {
    let cdn = &scenario.cdn;
    let origin_cfg: &OriginConfig = &scenario.origin;
    let port = origin_port(scenario);
    let col_x = [20.0, 210.0, 420.0, 700.0];
    let col_w = [160.0, 170.0, 240.0, 320.0];
    let width = col_x[3] + col_w[3] + 20.0;
    let mut svg = Svg::new(width, 400.0);
    svg.style(".h{font-size:13px;font-weight:600}.cap{font-size:11px;fill:#555}");
    svg.text(
        12.0,
        22.0,
        "Topology: who talks to whom, and what each part did",
        "title",
    );
    svg.text(
        12.0,
        40.0,
        &format!(
            "profile {} · ssl_mode {} · the L2s connect to the origin on port {port} · pool colours for each phase of the run",
            scenario.profile.as_str(),
            scenario_word(&cdn.ssl_mode),
        ),
        "small",
    );
    let top = 60.0;
    // Column captions.
    for (i, cap) in ["clients", "L1 edge caches", "L2 parent caches", "origin"]
        .iter()
        .enumerate()
    {
        svg.text(col_x[i], top + 10.0, cap, "h");
    }
    let body = top + 22.0;
    // Clients.
    let clients: u64 = scenario.workloads.iter().map(|w| w.clients as u64).sum();
    let mut y = body;
    svg.boxed(col_x[0], y, col_w[0], 60.0, "#f5f7fa", "#90a4ae");
    svg.text(
        col_x[0] + 8.0,
        y + 18.0,
        &format!("{clients} client addresses"),
        "",
    );
    svg.text(
        col_x[0] + 8.0,
        y + 34.0,
        &format!("{} requests", report.requests),
        "cap",
    );
    svg.text(
        col_x[0] + 8.0,
        y + 50.0,
        &format!("{} workload(s)", scenario.workloads.len()),
        "cap",
    );
    let clients_mid = y + 30.0;
    // L1 nodes.
    let mut l1_mids = Vec::new();
    for (i, node) in cdn.l1.iter().enumerate() {
        let h = 46.0;
        y = body + i as f64 * (h + 10.0);
        svg.boxed(col_x[1], y, col_w[1], h, "#e1f5fe", tier_color(Tier::L1));
        svg.text(col_x[1] + 8.0, y + 18.0, &node.name, "bold");
        svg.text(
            col_x[1] + 8.0,
            y + 34.0,
            &format!("cache {}", size(node.cache.unwrap_or(64 << 20))),
            "cap",
        );
        l1_mids.push(y + h / 2.0);
    }
    let l1_bottom = y + 46.0;
    // L2 nodes with their pools.
    let mut l2_mids = Vec::new();
    let mut all_pool: Vec<Ipv4Addr> = Vec::new();
    y = body;
    // The worlds of the run: the start, then after each event (pools and the origin may
    // change).
    let mut worlds: Vec<(String, &cdn_core::CdnConfig, &OriginConfig)> =
        vec![("from the start".to_string(), cdn, origin_cfg)];
    for e in &scenario.events {
        worlds.push((format!("from {}", human(e.at)), &e.cdn, &e.origin));
    }
    for (i, node) in cdn.l2.iter().enumerate() {
        let addrs = pool_addresses(&cdn.l2, i, false);
        all_pool.extend(&addrs);
        // What the origin does to each address, per world, when that changes.
        let mut phases: Vec<(String, Vec<(Ipv4Addr, ConnectVerdict)>)> = Vec::new();
        for (label, wcdn, worigin) in &worlds {
            if i >= wcdn.l2.len() {
                continue;
            }
            let o = Origin::new((*worigin).clone());
            let v: Vec<(Ipv4Addr, ConnectVerdict)> = pool_addresses(&wcdn.l2, i, false)
                .into_iter()
                .map(|a| (a, o.connect(a, port)))
                .collect();
            if phases.last().is_none_or(|(_, last)| *last != v) {
                phases.push((label.clone(), v));
            }
        }
        let rows_of = |n: usize| if n <= DOTS { n.div_ceil(12) } else { 1 };
        let h = 42.0
            + phases
                .iter()
                .map(|(_, v)| 16.0 + rows_of(v.len()) as f64 * 16.0)
                .sum::<f64>();
        let state = scenario_word(&node.state);
        svg.boxed(col_x[2], y, col_w[2], h, "#e0f2f1", tier_color(Tier::L2));
        svg.text(col_x[2] + 8.0, y + 18.0, &node.name, "bold");
        svg.text(
            col_x[2] + 8.0,
            y + 34.0,
            &format!(
                "cache {} · {state} · egress {}",
                size(node.cache.unwrap_or(1 << 30)),
                scenario_word(&node.egress_selection)
            ),
            "cap",
        );
        let mut py = y + 40.0;
        for (label, verdicts) in &phases {
            svg.text(
                col_x[2] + 8.0,
                py + 11.0,
                &format!(
                    "{label}: {} address{}",
                    verdicts.len(),
                    if verdicts.len() == 1 { "" } else { "es" }
                ),
                "cap",
            );
            py += 16.0;
            if verdicts.len() <= DOTS {
                for (k, (a, v)) in verdicts.iter().enumerate() {
                    let (color, what) = verdict_style(*v);
                    let x = col_x[2] + 8.0 + (k % 12) as f64 * 18.0;
                    let yy = py + (k / 12) as f64 * 16.0;
                    svg.rect(x, yy, 14.0, 12.0, color, Some(&format!("{a}: {what}")));
                }
            } else {
                let mut x = col_x[2] + 8.0;
                let total = verdicts.len() as f64;
                for v in [
                    ConnectVerdict::Accept,
                    ConnectVerdict::Drop,
                    ConnectVerdict::Refuse,
                    ConnectVerdict::Unreachable,
                ] {
                    let n = verdicts.iter().filter(|x| x.1 == v).count();
                    if n == 0 {
                        continue;
                    }
                    let w = n as f64 / total * (col_w[2] - 16.0);
                    let (color, what) = verdict_style(v);
                    svg.rect(
                        x,
                        py,
                        w,
                        12.0,
                        color,
                        Some(&format!("{n} addresses: {what}")),
                    );
                    x += w;
                }
            }
            py += rows_of(verdicts.len()) as f64 * 16.0;
        }
        l2_mids.push(y + h / 2.0);
        y += h + 10.0;
    }
    let l2_bottom = y - 10.0;
    // Origin.
    let ox = col_x[3];
    let mut lines: Vec<(String, &'static str)> = vec![
        (origin_cfg.hostname.clone(), "bold"),
        (
            format!(
                "state {} · {} workers, queue {}",
                scenario_word(&origin_cfg.state),
                origin_cfg.workers,
                origin_cfg.queue
            ),
            "cap",
        ),
        (
            format!(
                "serves {} in {} · cert {}",
                origin_cfg.status,
                human(origin_cfg.service_time),
                scenario_word(&origin_cfg.cert)
            ),
            "cap",
        ),
    ];
    if let Some(lr) = &origin_cfg.limit_req {
        lines.push((
            format!(
                "limit_req {} burst {}{} per address → {}",
                lr.rate,
                lr.burst,
                if lr.nodelay { " nodelay" } else { "" },
                lr.status
            ),
            "cap",
        ));
    }
    if let Some(lc) = &origin_cfg.limit_conn {
        lines.push((
            format!("limit_conn {} per address → {}", lc.max, lc.status),
            "cap",
        ));
    }
    let rules = &origin_cfg.firewall;
    let rules_h = if rules.is_empty() {
        18.0
    } else {
        18.0 + rules.len() as f64 * 18.0
    };
    let oh = 12.0 + lines.len() as f64 * 16.0 + 8.0 + rules_h + 6.0;
    svg.boxed(ox, body, col_w[3], oh, "#efebe9", tier_color(Tier::Origin));
    let mut yy = body + 18.0;
    for (text, class) in &lines {
        svg.text(ox + 8.0, yy, text, class);
        yy += 16.0;
    }
    yy += 4.0;
    if rules.is_empty() {
        svg.text(
            ox + 8.0,
            yy,
            "firewall: no rules (every address allowed)",
            "cap",
        );
    } else {
        svg.text(ox + 8.0, yy, "firewall, first match wins:", "cap");
        for (r, rule) in rules.iter().enumerate() {
            let decided = all_pool
                .iter()
                .filter(|a| rules.iter().position(|x| x.source.contains(**a)) == Some(r))
                .count();
            let (color, name) = action_style(rule.action);
            let ry = yy + 6.0 + r as f64 * 18.0;
            svg.rect(ox + 8.0, ry, 50.0, 14.0, color, None);
            svg.text_fill(ox + 33.0, ry + 11.0, name, "#fff", "middle");
            svg.text(
                ox + 64.0,
                ry + 11.0,
                &format!(
                    "{} → {decided} of {} pool addresses",
                    rule.source,
                    all_pool.len()
                ),
                "",
            );
        }
    }
    let origin_mid = body + 30.0;
    // Links.
    let arrow = |svg: &mut Svg, x1: f64, y1: f64, x2: f64, y2: f64| {
        svg.raw(&format!(
            "<path d=\"M{} {} C{} {} {} {} {} {}\" fill=\"none\" stroke=\"#90a4ae\" stroke-width=\"1.5\"/>",
            num(x1),
            num(y1),
            num((x1 + x2) / 2.0),
            num(y1),
            num((x1 + x2) / 2.0),
            num(y2),
            num(x2),
            num(y2)
        ));
    };
    for m in &l1_mids {
        arrow(&mut svg, col_x[0] + col_w[0], clients_mid, col_x[1], *m);
    }
    for a in &l1_mids {
        for b in &l2_mids {
            arrow(&mut svg, col_x[1] + col_w[1], *a, col_x[2], *b);
        }
    }
    for b in &l2_mids {
        arrow(&mut svg, col_x[2] + col_w[2], *b, ox, origin_mid);
    }
    // What each tier generated.
    let below = body + (l1_bottom - body).max(l2_bottom - body).max(oh) + 24.0;
    let mut max_y = below;
    for (i, tier) in [(1usize, Tier::L1), (2, Tier::L2), (3, Tier::Origin)] {
        let mut yy = below;
        svg.text(col_x[i], yy, "responses it generated:", "cap");
        yy += 4.0;
        let mut any = false;
        for (code, by) in &report.generated_by {
            let n = by.get(&tier).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            any = true;
            let c: u16 = code.0;
            svg.rect(col_x[i], yy + 4.0, 10.0, 10.0, status_color(c), None);
            svg.text(col_x[i] + 16.0, yy + 13.0, &format!("{code} × {n}"), "");
            yy += 16.0;
        }
        if !any {
            svg.text(col_x[i], yy + 13.0, "none", "cap");
            yy += 16.0;
        }
        max_y = max_y.max(yy);
    }
    let mut ly = max_y + 18.0;
    svg.text(12.0, ly, "egress address colours:", "cap");
    let mut lx = 150.0;
    for v in [
        ConnectVerdict::Accept,
        ConnectVerdict::Drop,
        ConnectVerdict::Refuse,
        ConnectVerdict::Unreachable,
    ] {
        let (color, what) = verdict_style(v);
        svg.rect(lx, ly - 10.0, 14.0, 12.0, color, None);
        svg.text(lx + 18.0, ly, what, "cap");
        lx += 26.0 + text_width(what, 11.0);
    }
    if !scenario.events.is_empty() {
        ly += 20.0;
        svg.text(12.0, ly, "then, during the run:", "cap");
        for e in &scenario.events {
            ly += 16.0;
            svg.text(
                24.0,
                ly,
                &format!("at {}: {}", human(e.at), e.changes),
                "cap",
            );
        }
    }
    svg.set_height(ly + 16.0);
    svg.finish()
}

fn size(bytes: u64) -> String {
    if bytes == 0 {
        "off (0 B)".into()
    } else if bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else if bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::engine::{simulate, SimOptions};

    fn draw(name: &str) -> String {
        let s = builtin::load(name).unwrap();
        let r = simulate(&s, SimOptions::default()).unwrap().report;
        render(&s, &r)
    }

    #[test]
    fn a_rotating_pool_shows_allowed_and_dropped_addresses() {
        let svg = draw("whitelist-rotating-pool");
        assert!(svg.contains(": connects</title>"), "some addresses pass");
        assert!(
            svg.contains(": SYN dropped</title>"),
            "the others are dropped"
        );
    }

    #[test]
    fn each_tier_lists_what_it_generated() {
        let svg = draw("firewall-drop");
        assert!(svg.contains("522 × 10"));
    }
}
