//! [`ScenarioBuilder`]: a [`Scenario`] written in Rust instead of TOML, checked by the same
//! rules and reported with the same [`ScenarioError`] as a file.
//!
//! Defaults are the file's: a key the builder is not given takes the value the scenario
//! reference (`docs/scenarios.md`) documents for a missing key, including the profile's
//! defaults for `[cdn]`.

use super::error::Invalid;
use super::locate::KeyPath;
use super::{workload, Event, Scenario, ScenarioError, Workload};
use cdn_core::{CdnConfig, NetworkConfig, NodeConfig, OriginConfig, Profile};
use std::time::Duration;

/// How an event changes the world: edits the configuration in force before it.
type Edit = Box<dyn FnOnce(&mut World)>;

/// The configuration an event may change (what a file's `[[event]]` patches: `cdn`,
/// `network`, `origin`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct World {
    /// `[cdn]`, including `[[cdn.l1]]` and `[[cdn.l2]]`.
    pub cdn: CdnConfig,
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[origin]`.
    pub origin: OriginConfig,
}

/// Builds a [`Scenario`] in code. Start with [`Scenario::builder`]; [`ScenarioBuilder::build`]
/// checks it with the rules a scenario file is checked with and returns the same
/// [`ScenarioError`] (keys without line numbers).
///
/// ```
/// use cdn_core::{NodeConfig, OriginState, Profile};
/// use cdn_sim::scenario::{Urls, Workload};
/// use cdn_sim::{simulate, Scenario, SimOptions};
/// use std::time::Duration;
///
/// let scenario = Scenario::builder("origin-down-in-code")
///     .profile(Profile::Nginx)
///     .duration(Duration::from_secs(4))
///     .l2(NodeConfig::named("shield-a"))
///     .workload(Workload { urls: Urls::One, count: Some(20), ..Workload::default() })
///     .event(Duration::from_secs(1), |w| w.origin.state = OriginState::Down)
///     .build()?;
/// assert_eq!(scenario.events[0].changes, r#"origin.state = "down""#);
///
/// let report = simulate(&scenario, SimOptions::default()).unwrap().report;
/// assert_eq!(report.requests, 20);
///
/// // The file loader's rules, the file loader's error type.
/// let err = Scenario::builder("bad")
///     .workload(Workload { clients: 0, ..Workload::default() })
///     .build()
///     .unwrap_err();
/// assert_eq!(err.key.as_deref(), Some("workload[0].clients"));
/// # Ok::<(), cdn_sim::scenario::ScenarioError>(())
/// ```
#[must_use = "call .build() to get the Scenario"]
pub struct ScenarioBuilder {
    name: String,
    description: String,
    seed: u64,
    profile: Profile,
    duration: Duration,
    cdn: Option<CdnConfig>,
    l1: Vec<NodeConfig>,
    l2: Vec<NodeConfig>,
    network: NetworkConfig,
    origin: OriginConfig,
    workloads: Vec<Workload>,
    events: Vec<(Duration, Edit)>,
}

impl Scenario {
    /// A [`ScenarioBuilder`] for a scenario called `name`, with every default of a file
    /// that gives only `name` (and no workload yet: add at least one).
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder {
            name: name.into(),
            description: String::new(),
            seed: 0,
            profile: Profile::default(),
            duration: super::default_duration(),
            cdn: None,
            l1: Vec::new(),
            l2: Vec::new(),
            network: NetworkConfig::default(),
            origin: OriginConfig::default(),
            workloads: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl ScenarioBuilder {
    /// `description` (default `""`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// `seed` (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// `profile` (default Cloudflare). Unless [`ScenarioBuilder::cdn`] is given, `[cdn]`
    /// takes this profile's defaults, as in a file.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// `duration`: how long workloads generate arrivals (default 10 s).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// The whole `[cdn]` section (default: [`CdnConfig::for_profile`] of the profile). Nodes
    /// added with [`ScenarioBuilder::l1`] or [`ScenarioBuilder::l2`] replace its node lists.
    pub fn cdn(mut self, cdn: CdnConfig) -> Self {
        self.cdn = Some(cdn);
        self
    }

    /// Adds an edge node (`[[cdn.l1]]`); the first one replaces the default `edge-1`.
    pub fn l1(mut self, node: NodeConfig) -> Self {
        self.l1.push(node);
        self
    }

    /// Adds a parent node (`[[cdn.l2]]`); the first one replaces the default `shield-1`.
    pub fn l2(mut self, node: NodeConfig) -> Self {
        self.l2.push(node);
        self
    }

    /// `[network]` (default [`NetworkConfig::default`]).
    pub fn network(mut self, network: NetworkConfig) -> Self {
        self.network = network;
        self
    }

    /// `[origin]` (default [`OriginConfig::default`]: a healthy origin).
    pub fn origin(mut self, origin: OriginConfig) -> Self {
        self.origin = origin;
        self
    }

    /// Adds a `[[workload]]` (at least one is required); start from [`Workload::default`].
    pub fn workload(mut self, workload: Workload) -> Self {
        self.workloads.push(workload);
        self
    }

    /// Adds an `[[event]]` at `at`: `edit` changes the [`World`] in force just before it
    /// (the base configuration with every earlier event applied). Events are applied in
    /// order of `at`, those at the same `at` in the order given. The event's
    /// [`Event::changes`] is worked out from what `edit` changed.
    pub fn event(mut self, at: Duration, edit: impl FnOnce(&mut World) + 'static) -> Self {
        self.events.push((at, Box::new(edit)));
        self
    }

    /// The checked scenario, or the first problem a scenario file with the same content
    /// would be rejected for (its key names the section, e.g. `workload[0].clients` or
    /// `event[1].origin.limit_req.rate`; the file is `scenario "NAME"`).
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        let file = format!("scenario {:?}", self.name);
        let mut cdn = self
            .cdn
            .unwrap_or_else(|| CdnConfig::for_profile(self.profile));
        if !self.l1.is_empty() {
            cdn.l1 = self.l1;
        }
        if !self.l2.is_empty() {
            cdn.l2 = self.l2;
        }
        let mut scenario = Scenario {
            name: self.name,
            description: self.description,
            seed: self.seed,
            profile: self.profile,
            duration: self.duration,
            cdn,
            network: self.network,
            origin: self.origin,
            workloads: self.workloads,
            events: Vec::new(),
        };
        let mut world = World {
            cdn: scenario.cdn.clone(),
            network: scenario.network,
            origin: scenario.origin.clone(),
        };
        let mut events = self.events;
        // Stable: events at the same `at` keep the order they were given in, as in a file.
        events.sort_by_key(|(at, _)| *at);
        for (i, (at, edit)) in events.into_iter().enumerate() {
            let before = world.clone();
            edit(&mut world);
            let changes = changes(&before, &world);
            if changes.is_empty() {
                return Err(Invalid::new(
                    KeyPath::root().key("event").index(i),
                    "this event changes nothing; change at least one of: cdn, network, origin \
                     (e.g. |w| w.origin.state = OriginState::Down)",
                )
                .unlocated(&file));
            }
            scenario.events.push(Event {
                at,
                line: 0,
                cdn: world.cdn.clone(),
                network: world.network,
                origin: world.origin.clone(),
                changes,
            });
        }
        scenario.validate()?;
        workload::open_traces(&mut scenario.workloads, None).map_err(|e| e.unlocated(&file))?;
        Ok(scenario)
    }
}

/// What changed from `before` to `after`, as a file's event summary prints it
/// (`origin.state = "down"; cdn.l2[0].state = "hung"`), keys in order.
fn changes(before: &World, after: &World) -> String {
    let mut out = Vec::new();
    for (name, b, a) in [
        ("cdn", json(&before.cdn), json(&after.cdn)),
        ("network", json(&before.network), json(&after.network)),
        ("origin", json(&before.origin), json(&after.origin)),
    ] {
        diff(name, &b, &a, &mut out);
    }
    out.join("; ")
}

fn json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("configurations are plain data")
}

/// Appends `key = value` for every leaf of `after` that differs from `before`. Objects are
/// compared key by key, and arrays of objects element by element when their lengths agree
/// (`cdn.l2[0].state`); anything else is printed whole.
fn diff(key: &str, before: &serde_json::Value, after: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in a {
                diff(
                    &format!("{key}.{k}"),
                    b.get(k).unwrap_or(&Value::Null),
                    v,
                    out,
                );
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{key}.{k} = (default)"));
            }
        }
        (Value::Array(b), Value::Array(a))
            if a.len() == b.len() && a.iter().all(Value::is_object) =>
        {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                diff(&format!("{key}[{i}]"), bv, av, out);
            }
        }
        (_, Value::Null) => out.push(format!("{key} = (default)")),
        _ => out.push(format!("{key} = {after}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_core::OriginState;

    fn one() -> Workload {
        Workload {
            count: Some(5),
            ..Workload::default()
        }
    }

    #[test]
    fn defaults_match_a_file_with_only_a_name_and_a_workload() {
        let file = Scenario::from_toml(
            "name = \"x\"\nprofile = \"nginx\"\n[[workload]]\ncount = 5\n",
            "x.toml",
        )
        .unwrap();
        let code = Scenario::builder("x")
            .profile(Profile::Nginx)
            .workload(one())
            .build()
            .unwrap();
        assert_eq!(code, file);
    }

    #[test]
    fn events_match_the_files_world_and_summary() {
        let file = Scenario::from_toml(
            "name = \"x\"\n[[workload]]\ncount = 5\n\
             [[event]]\nat = \"3s\"\norigin = { state = \"down\" }\n\
             [[event]]\nat = \"1s\"\ncdn = { l2 = [{ name = \"shield-1\", state = \"hung\" }] }\n",
            "x.toml",
        )
        .unwrap();
        let code = Scenario::builder("x")
            .workload(one())
            .event(Duration::from_secs(3), |w| {
                w.origin.state = OriginState::Down
            })
            .event(Duration::from_secs(1), |w| {
                w.cdn.l2[0].state = cdn_core::NodeState::Hung
            })
            .build()
            .unwrap();
        assert_eq!(code.events.len(), 2);
        for (c, f) in code.events.iter().zip(&file.events) {
            assert_eq!(
                (c.at, &c.cdn, &c.network, &c.origin),
                (f.at, &f.cdn, &f.network, &f.origin)
            );
        }
        assert_eq!(code.events[0].changes, r#"cdn.l2[0].state = "hung""#);
        assert_eq!(code.events[1].changes, r#"origin.state = "down""#);
    }

    #[test]
    fn errors_are_the_file_loaders_without_lines() {
        let no_workload = Scenario::builder("x").build().unwrap_err();
        assert_eq!(no_workload.key.as_deref(), Some("workload"));
        assert_eq!(no_workload.line, None);
        assert!(no_workload.message.contains("at least one [[workload]]"));

        let empty_name = Scenario::builder(" ").workload(one()).build().unwrap_err();
        assert_eq!(empty_name.key.as_deref(), Some("name"));

        let nothing = Scenario::builder("x")
            .workload(one())
            .event(Duration::from_secs(1), |_| {})
            .build()
            .unwrap_err();
        assert_eq!(nothing.key.as_deref(), Some("event[0]"));
        assert!(nothing
            .to_string()
            .starts_with("scenario \"x\": event[0]: this event changes nothing"));

        let bad_node = Scenario::builder("x")
            .workload(one())
            .l1(NodeConfig::named("edge"))
            .l1(NodeConfig::named("edge"))
            .build()
            .unwrap_err();
        let key = bad_node.key.unwrap_or_default();
        assert!(key.starts_with("cdn.l1[1]"), "{key}");
    }
}
