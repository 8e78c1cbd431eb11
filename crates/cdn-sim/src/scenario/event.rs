//! `[[event]]`: partial overrides of the world at a point in time.
//!
//! The world is kept as TOML tables (`cdn`, `network`, `origin`) so that a patch is merged
//! exactly as if the user had written it into the base document; each event's world is then
//! deserialized and validated like the base one. Patches apply cumulatively, in `at` order.

use super::error::{probe, translate, Invalid};
use super::locate::{KeyPath, LineIndex, Seg};
use super::{check_cdn, check_origin, Event, MAX_EVENTS, MAX_EVENT_NODE_COPIES};
use cdn_core::units::serde_units;
use cdn_core::{CdnConfig, NetworkConfig, OriginConfig, Profile};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One `[[event]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent {
    /// When the patch takes effect, from the start of the run.
    #[serde(with = "serde_units::duration")]
    at: Duration,
    /// A partial `[cdn]`.
    #[serde(default)]
    cdn: Option<toml::Table>,
    /// A partial `[network]`.
    #[serde(default)]
    network: Option<toml::Table>,
    /// A partial `[origin]`.
    #[serde(default)]
    origin: Option<toml::Table>,
    /// `{ name = "...", ... }` or a list of them: merged into the `[[cdn.l2]]` of that name.
    #[serde(default)]
    l2: Option<toml::Value>,
}

/// The world as TOML: the three sections events may patch.
struct World {
    cdn: toml::Table,
    network: toml::Table,
    origin: toml::Table,
}

fn section(root: &toml::Value, name: &str) -> toml::Table {
    root.get(name)
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default()
}

/// Merges `patch` into `base`: tables merge key by key, anything else (arrays included)
/// replaces what was there.
fn merge(base: &mut toml::Table, patch: &toml::Table) {
    for (k, v) in patch {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(p)) => merge(b, p),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `a.b = 1` lines for a patch, in key order.
fn summarize(prefix: &str, patch: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in patch {
        let key = if prefix.is_empty() {
            KeyPath::root().key(k).to_string()
        } else {
            format!("{prefix}.{}", KeyPath::root().key(k))
        };
        match v {
            toml::Value::Table(t) if !t.is_empty() => summarize(&key, t, out),
            other => out.push(format!("{key} = {other}")),
        }
    }
}

/// Deserializes one section of the world; errors are keyed from the section name.
fn section_config<T: DeserializeOwned>(name: &str, table: &toml::Table) -> Result<T, Invalid> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let path = KeyPath::from_serde(e.path());
        let message = e.into_inner().message().to_string();
        translate(path, &message, &value, &probe::<T>).under(&KeyPath::root().key(name))
    })
}

/// Applies every event, in `at` order (stable for equal `at`), to the base document `root`,
/// and returns the resolved worlds.
pub(crate) fn resolve(
    raw: &[RawEvent],
    root: &toml::Value,
    base: &CdnConfig,
    profile: Profile,
    lines: &LineIndex,
) -> Result<Vec<Event>, Invalid> {
    let nodes = base.l1.len() + base.l2.len();
    let copies = raw.len().saturating_mul(nodes);
    if raw.len() > MAX_EVENTS || copies > MAX_EVENT_NODE_COPIES {
        return Err(Invalid::new(
            KeyPath::root().key("event").index(0),
            format!(
                "{} [[event]] tables with {nodes} nodes: each event keeps its own copy of the \
                 world, and a scenario may have at most {MAX_EVENTS} events and \
                 {MAX_EVENT_NODE_COPIES} node copies in all (events × nodes); merge events \
                 that happen together, or use fewer nodes",
                raw.len()
            ),
        ));
    }
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by_key(|&i| raw[i].at);

    let mut world = World {
        cdn: section(root, "cdn"),
        network: section(root, "network"),
        origin: section(root, "origin"),
    };
    let mut events = Vec::with_capacity(raw.len());
    for i in order {
        let ev = &raw[i];
        let here = KeyPath::root().key("event").index(i);
        let mut changes = Vec::new();
        if ev.cdn.is_none() && ev.network.is_none() && ev.origin.is_none() && ev.l2.is_none() {
            return Err(Invalid::new(
                here,
                "this event changes nothing; add at least one of: cdn, network, origin, l2 \
                 (e.g. origin = { state = \"down\" })",
            ));
        }
        for (name, patch, target) in [
            ("cdn", &ev.cdn, &mut world.cdn),
            ("network", &ev.network, &mut world.network),
            ("origin", &ev.origin, &mut world.origin),
        ] {
            if let Some(patch) = patch {
                merge(target, patch);
                summarize(name, patch, &mut changes);
            }
        }
        // Which `cdn.l2[k]` each `l2` patch landed on, to blame the patch for its errors.
        let mut l2_blame = BTreeMap::new();
        if let Some(l2) = &ev.l2 {
            for (patch_path, patch) in l2_patches(l2, &here.key("l2"))? {
                let k = patch_l2(&mut world.cdn, &patch_path, patch, &mut changes)?;
                l2_blame.insert(k, patch_path);
            }
        }
        let blame = |key: KeyPath| -> KeyPath {
            if let [Seg::Key(c), Seg::Key(l2), Seg::Index(k), rest @ ..] = key.0.as_slice() {
                if c == "cdn" && l2 == "l2" {
                    if let Some(p) = l2_blame.get(k) {
                        return p.join(&KeyPath(rest.to_vec()));
                    }
                }
            }
            here.join(&key)
        };
        let blamed = |e: Invalid| Invalid {
            key: blame(e.key),
            near: e.near.map(blame),
            message: e.message,
        };
        let cdn: CdnConfig = section_config("cdn", &world.cdn).map_err(blamed)?;
        let cdn = cdn.with_profile_defaults(profile, |k| world.cdn.contains_key(k));
        let network: NetworkConfig = section_config("network", &world.network).map_err(blamed)?;
        let origin: OriginConfig = section_config("origin", &world.origin).map_err(blamed)?;
        check_cdn(&cdn, profile).map_err(blamed)?;
        same_nodes(base, &cdn).map_err(blamed)?;
        check_origin(&origin).map_err(blamed)?;
        events.push(Event {
            at: ev.at,
            line: lines.nearest(&here),
            cdn,
            network,
            origin,
            changes: changes.join("; "),
        });
    }
    Ok(events)
}

/// An event may change an L2's `state` and nothing else about the nodes: the engines build
/// each node's store, eviction policy and egress pool once, at the start of the run, so any
/// other change would be silently ignored. Refused, naming the key.
fn same_nodes(base: &CdnConfig, now: &CdnConfig) -> Result<(), Invalid> {
    const FIXED: &str = "is fixed for the run: the nodes' stores and egress pools are built \
                         once, at the start; an event may change only an L2's state (e.g. \
                         l2 = { name = \"shield-1\", state = \"down\" })";
    for (tier, was, is) in [("l1", &base.l1, &now.l1), ("l2", &base.l2, &now.l2)] {
        let nodes = KeyPath::root().key("cdn").key(tier);
        if was.len() != is.len() {
            return Err(Invalid::new(
                nodes,
                format!(
                    "an event cannot add or remove nodes ({} [[cdn.{tier}]] at the start, {} \
                     after this event): the list {FIXED}",
                    was.len(),
                    is.len()
                ),
            ));
        }
        for (k, (a, b)) in was.iter().zip(is).enumerate() {
            let changed = if a.name != b.name {
                "name"
            } else if a.cache != b.cache {
                "cache"
            } else if a.eviction != b.eviction {
                "eviction"
            } else if a.egress != b.egress {
                "egress"
            } else if a.egress_selection != b.egress_selection {
                "egress_selection"
            } else {
                continue;
            };
            return Err(Invalid::new(
                nodes.index(k).key(changed),
                format!("a node's {changed} {FIXED}"),
            ));
        }
    }
    Ok(())
}

/// The tables of an `l2` patch (`l2 = {...}` or `l2 = [{...}, ...]`) with their paths.
fn l2_patches<'a>(
    l2: &'a toml::Value,
    path: &KeyPath,
) -> Result<Vec<(KeyPath, &'a toml::Table)>, Invalid> {
    const FORMS: &str =
        "expected l2 = { name = \"shield-1\", state = \"down\" } or a list of such tables";
    match l2 {
        toml::Value::Table(t) => Ok(vec![(path.clone(), t)]),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::Table(t) => Ok((path.index(i), t)),
                other => Err(Invalid::new(
                    path.index(i),
                    format!("{FORMS}, found {}", super::error::describe(other)),
                )),
            })
            .collect(),
        other => Err(Invalid::new(
            path.clone(),
            format!("{FORMS}, found {}", super::error::describe(other)),
        )),
    }
}

/// Merges one `l2` patch into the `[[cdn.l2]]` entry it names; returns that entry's index.
fn patch_l2(
    cdn: &mut toml::Table,
    path: &KeyPath,
    patch: &toml::Table,
    changes: &mut Vec<String>,
) -> Result<usize, Invalid> {
    let name = match patch.get("name") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(Invalid::new(
                path.key("name"),
                format!(
                    "expected a string (the name of a [[cdn.l2]] node), found {}",
                    super::error::describe(other)
                ),
            ))
        }
        None => {
            return Err(Invalid::new(
                path.key("name"),
                "missing required key `name` (the [[cdn.l2]] node to change)",
            ))
        }
    };
    if !cdn.contains_key("l2") {
        // The document relies on the default L2 nodes: spell them out so they can be patched.
        let defaults = CdnConfig::default()
            .l2
            .into_iter()
            .map(|n| {
                let mut t = toml::Table::new();
                t.insert("name".into(), toml::Value::String(n.name));
                toml::Value::Table(t)
            })
            .collect();
        cdn.insert("l2".into(), toml::Value::Array(defaults));
    }
    let nodes: Vec<&mut toml::Table> = match cdn.get_mut("l2") {
        Some(toml::Value::Array(a)) => a.iter_mut().filter_map(|v| v.as_table_mut()).collect(),
        _ => Vec::new(),
    };
    let node_name = |t: &toml::Table| t.get("name").and_then(|n| n.as_str()).map(str::to_string);
    let names: Vec<String> = nodes.iter().filter_map(|t| node_name(t)).collect();
    let Some((k, node)) = nodes
        .into_iter()
        .enumerate()
        .find(|(_, t)| node_name(t).as_deref() == Some(name.as_str()))
    else {
        return Err(Invalid::new(
            path.key("name"),
            format!(
                "no [[cdn.l2]] node is named {name:?}; allowed: {}",
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    let mut rest = patch.clone();
    rest.remove("name");
    merge(node, &rest);
    summarize(
        &format!("cdn.l2[{}]", toml::Value::String(name)),
        &rest,
        changes,
    );
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(src: &str) -> toml::Table {
        toml::from_str(src).unwrap()
    }

    #[test]
    fn tables_merge_and_arrays_replace() {
        let mut base = table("a = 1\n[t]\nx = 1\ny = [1, 2]");
        merge(&mut base, &table("[t]\ny = [3]\nz = 'new'"));
        assert_eq!(base, table("a = 1\n[t]\nx = 1\ny = [3]\nz = 'new'"));
    }

    #[test]
    fn summaries_read_like_toml() {
        let mut out = Vec::new();
        summarize(
            "origin",
            &table("state = 'down'\nlimit_req = { burst = 3 }"),
            &mut out,
        );
        assert_eq!(
            out,
            ["origin.limit_req.burst = 3", "origin.state = \"down\""]
        );
    }
}
