//! Same fault, six vendors: what each CDN answers, and when.
//!
//! ```text
//! cargo run --example compare_profiles
//! ```
//! Loads a scenario from TOML in code, then changes the origin fault and the profile and runs
//! each combination. You will see, for example, that a silent firewall DROP is a 522 after
//! 19 s at Cloudflare, a 504 after 60 s at nginx, a 504 after 30 s (3 × 10 s) at CloudFront,
//! and a 503 after 1 s at Fastly — while a REJECT is answered at once everywhere.

use cdn_core::origin::{FirewallAction, FirewallRule};
use cdn_core::profile::ALL_PROFILES;
use cdn_core::{AddrSpec, OriginState};
use cdn_sim::engine::{simulate, SimOptions};
use cdn_sim::scenario::Scenario;

const BASE: &str = r#"
name = "compare"
[[workload]]
arrival = "burst"
count = 1
"#;

/// A named change to a scenario.
type Fault = (&'static str, fn(&mut Scenario));

fn main() {
    let base = Scenario::from_toml(BASE, "compare.toml").expect("valid scenario");
    let faults: [Fault; 4] = [
        ("nothing listening", |s| s.origin.state = OriginState::Down),
        ("firewall DROP", |s| {
            s.origin.firewall = vec![FirewallRule {
                source: AddrSpec::Any,
                action: FirewallAction::Drop,
            }]
        }),
        ("hung origin", |s| s.origin.state = OriginState::Hung),
        ("reset after request", |s| {
            s.origin.state = OriginState::Reset
        }),
    ];
    print!("{:<22}", "fault");
    for p in ALL_PROFILES {
        print!("{:>16}", p.as_str());
    }
    println!();
    for (name, apply) in faults {
        print!("{name:<22}");
        for profile in ALL_PROFILES {
            let mut s = base.clone();
            s.profile = profile;
            apply(&mut s);
            let r = simulate(&s, SimOptions::default()).unwrap().report;
            let code = r.status.keys().next().map_or(0, |c| c.0);
            print!("{:>16}", format!("{code} @ {}s", r.latency_ms.p50 / 1000.0));
        }
        println!();
    }
}
