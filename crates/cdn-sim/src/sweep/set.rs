//! `--set KEY=V1,V2,…`: which key, which values, and how one value is written into the
//! scenario's TOML document before it is loaded (so every value is checked exactly as if
//! the user had typed it into the file).
//!
//! Keys are dotted paths into the scenario document:
//!
//! | form | sets |
//! |---|---|
//! | `origin.workers`, `cdn.read_timeout`, `network.l2_origin_rtt`, `origin.limit_req.rate` | that key (missing tables are created) |
//! | `l2.NAME.KEY`, `l1.NAME.KEY` | `KEY` of the `[[cdn.l2]]` / `[[cdn.l1]]` node called `NAME` (the defaults `shield-1` / `edge-1` too) |
//! | `l2.*.KEY` | `KEY` of every L2 node |
//! | `cdn.l2[0].KEY`, `workload[1].rate` | an entry of an array of tables, by index from 0 |
//! | `workload.KEY` | `KEY` of every `[[workload]]` |
//! | `seed`, `duration`, `profile` | the top-level key |
//!
//! A value is a TOML value (`8`, `true`, `"5s"`, `["127.0.1.1", "127.0.1.9"]`); anything that is
//! not valid TOML is taken as a string, so `10r/s` and `127.0.1.1-127.0.1.4` need no quotes.
//! Where the document expects a list (`egress`, `accept_encoding`) a single value is a list of
//! one: `l2.shield-1.egress=127.0.1.1-127.0.1.8` sets an eight-address pool.
//!
//! ```
//! use cdn_sim::sweep::set::Setting;
//! let s = Setting::parse("origin.limit_req.rate=10r/s,20r/s").unwrap();
//! assert_eq!(s.key, "origin.limit_req.rate");
//! assert_eq!(s.values, ["10r/s", "20r/s"]);
//! // Commas inside brackets or quotes do not split values.
//! let s = Setting::parse(r#"l2.shield-1.egress=["127.0.1.1","127.0.1.2"],127.0.1.1-127.0.1.8"#).unwrap();
//! assert_eq!(s.values.len(), 2);
//! ```

use cdn_core::CdnConfig;
use std::str::FromStr;
use toml_edit::{DocumentMut, Item, Table, Value};

/// One `--set`: a key and the values it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The dotted key, as written.
    pub key: String,
    /// The values, as written, in order.
    pub values: Vec<String>,
}

/// Keys that describe the run rather than the world it simulates.
const FIXED: [&str; 3] = ["name", "description", "event"];
/// Keys whose value is a list: a single value becomes a list of one.
const LIST_KEYS: [&str; 2] = ["egress", "accept_encoding"];

impl Setting {
    /// Parses `KEY=V1,V2,…`.
    pub fn parse(arg: &str) -> Result<Setting, String> {
        let (key, values) = arg.split_once('=').ok_or_else(|| {
            format!("--set {arg}: expected KEY=V1,V2,… e.g. --set origin.workers=2,8")
        })?;
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(format!(
                "--set {arg}: the key is empty; e.g. origin.workers=2,8"
            ));
        }
        let first = key.split(['.', '[']).next().unwrap_or("");
        if FIXED.contains(&first) {
            return Err(format!(
                "--set {key}: `{first}` cannot be swept; sweep cdn.*, network.*, origin.*, l1.NAME.*, \
                 l2.NAME.*, workload.*, seed, duration or profile"
            ));
        }
        let values = split_values(values);
        if values.iter().any(|v| v.is_empty()) {
            return Err(format!(
                "--set {arg}: an empty value; separate values with commas, e.g. {key}=2,8"
            ));
        }
        Ok(Setting { key, values })
    }
}

/// Splits at commas outside brackets, braces and quotes.
fn split_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
    /// Every entry of an array of tables.
    Each,
}

fn segments(key: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(format!("--set {key}: empty name in the key path"));
        }
        out.push(Seg::Key(name.to_string()));
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('[') {
            let (idx, after) = r
                .split_once(']')
                .ok_or_else(|| format!("--set {key}: `[` without `]`"))?;
            let i: usize = idx.parse().map_err(|_| {
                format!("--set {key}: `[{idx}]` is not an index (a whole number from 0)")
            })?;
            out.push(Seg::Index(i));
            rest = after;
        }
    }
    // Shorthands: l1/l2 nodes by name, every workload.
    match out.as_slice() {
        [Seg::Key(tier), Seg::Key(node), rest @ ..] if (tier == "l1" || tier == "l2") => {
            if rest.is_empty() {
                return Err(format!(
                    "--set {key}: name a key of the node, e.g. {tier}.{node}.egress"
                ));
            }
            let mut path = vec![
                Seg::Key("cdn".into()),
                Seg::Key(tier.clone()),
                Seg::Key(format!("\u{0}{node}")),
            ];
            path.extend_from_slice(rest);
            Ok(path)
        }
        [Seg::Key(w), Seg::Key(k), rest @ ..] if w == "workload" => {
            let mut path = vec![Seg::Key(w.clone()), Seg::Each, Seg::Key(k.clone())];
            path.extend_from_slice(rest);
            Ok(path)
        }
        _ => Ok(out),
    }
}

/// The scenario `source` (named `file` in errors) with `key = value` pairs written in, loaded
/// and checked like a file. An invalid result names the settings:
/// `file with --set origin.workers=lots: origin.workers: expected an integer …`.
///
/// ```
/// use cdn_sim::sweep::set::scenario_with;
/// let src = cdn_sim::builtin::source("origin-garbage").unwrap();
/// let s = scenario_with(src, "origin-garbage", &[("profile".into(), "nginx".into())]).unwrap();
/// assert_eq!(s.profile, cdn_core::Profile::Nginx);
/// ```
pub fn scenario_with(
    source: &str,
    file: &str,
    pairs: &[(String, String)],
) -> Result<crate::scenario::Scenario, String> {
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e| format!("{file}: TOML syntax error: {e}"))?;
    for (k, v) in pairs {
        apply(&mut doc, k, v)?;
    }
    crate::scenario::Scenario::from_toml(&doc.to_string(), file).map_err(|e| {
        let label: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let what = e.key.as_deref().map_or(String::new(), |k| format!("{k}: "));
        format!(
            "{file} with --set {}: {what}{}",
            label.join(" --set "),
            e.message
        )
    })
}

/// Splits one `KEY=VALUE` (`run --set`): a single value, commas included.
pub fn parse_pair(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            let key = k.trim().to_string();
            let first = key.split(['.', '[']).next().unwrap_or("");
            if FIXED.contains(&first) {
                return Err(format!(
                    "--set {key}: `{first}` cannot be set from the command line"
                ));
            }
            Ok((key, v.trim().to_string()))
        }
        _ => Err(format!(
            "--set {arg}: expected KEY=VALUE, e.g. --set profile=nginx or --set origin.workers=8"
        )),
    }
}

/// The TOML value of a written value: TOML if it parses, else a string.
fn value_of(text: &str) -> Value {
    Value::from_str(text).unwrap_or_else(|_| Value::from(text))
}

/// Writes `key = text` into `doc`.
pub fn apply(doc: &mut DocumentMut, key: &str, text: &str) -> Result<(), String> {
    let path = segments(key)?;
    let value = value_of(text);
    set(doc.as_item_mut(), &path, &value, key)
}

fn set(item: &mut Item, path: &[Seg], value: &Value, key: &str) -> Result<(), String> {
    let (seg, rest) = path.split_first().expect("paths are never empty");
    match seg {
        Seg::Key(name) if name.starts_with('\u{0}') => {
            // A node of cdn.l1 / cdn.l2 by name ("*": every node).
            let node = &name[1..];
            let tables = item.as_array_of_tables_mut().ok_or_else(|| {
                format!("--set {key}: the scenario's nodes are not written as [[cdn.l1]] / [[cdn.l2]] tables")
            })?;
            let names: Vec<String> = tables
                .iter()
                .filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(String::from))
                .collect();
            let mut hit = false;
            for t in tables.iter_mut() {
                let this = t.get("name").and_then(|n| n.as_str()).unwrap_or("");
                if node == "*" || this == node {
                    hit = true;
                    set_in_table(t, rest, value, key)?;
                }
            }
            if !hit {
                return Err(format!(
                    "--set {key}: no node is named {node:?}; nodes: {}",
                    names.join(", ")
                ));
            }
            Ok(())
        }
        Seg::Key(name) => {
            let inline = item.is_inline_table();
            let table = item.as_table_like_mut().ok_or_else(|| {
                format!("--set {key}: `{name}` is inside something that is not a table")
            })?;
            if rest.is_empty() {
                let list = LIST_KEYS.contains(&name.as_str());
                let existing_array = table.get(name).is_some_and(|i| i.is_array());
                let v = if (list || existing_array) && !value.is_array() {
                    let mut a = toml_edit::Array::new();
                    a.push(value.clone());
                    Value::Array(a)
                } else {
                    value.clone()
                };
                table.insert(name, Item::Value(v));
                return Ok(());
            }
            if table.get(name).is_none() {
                let fresh = match rest.first() {
                    Some(Seg::Index(_)) | Some(Seg::Each) => {
                        return Err(format!("--set {key}: the scenario has no `{name}` list"))
                    }
                    _ if inline => Item::Value(Value::InlineTable(Default::default())),
                    _ => {
                        let mut t = Table::new();
                        t.set_implicit(true);
                        Item::Table(t)
                    }
                };
                table.insert(name, fresh);
            }
            let child = table.get_mut(name).expect("inserted");
            if name == "l1" || name == "l2" {
                if let Some(Seg::Key(n)) = rest.first() {
                    if n.starts_with('\u{0}') {
                        ensure_nodes(child, name);
                    }
                }
            }
            set(child, rest, value, key)
        }
        Seg::Index(i) => {
            if let Some(tables) = item.as_array_of_tables_mut() {
                let len = tables.len();
                let t = tables.get_mut(*i).ok_or_else(|| {
                    format!("--set {key}: index {i} is past the end (there are {len})")
                })?;
                return set_in_table(t, rest, value, key);
            }
            Err(format!(
                "--set {key}: `[{i}]` applies to a list of [[tables]] only"
            ))
        }
        Seg::Each => {
            let tables = item
                .as_array_of_tables_mut()
                .ok_or_else(|| format!("--set {key}: expected a list of [[tables]] here"))?;
            for t in tables.iter_mut() {
                set_in_table(t, rest, value, key)?;
            }
            Ok(())
        }
    }
}

fn set_in_table(t: &mut Table, rest: &[Seg], value: &Value, key: &str) -> Result<(), String> {
    if rest.is_empty() {
        return Err(format!("--set {key}: name a key inside the table"));
    }
    let mut item = Item::Table(std::mem::take(t));
    let r = set(&mut item, rest, value, key);
    *t = item.into_table().expect("still a table");
    r
}

/// Spells out the default nodes (`edge-1`, `shield-1`) so they can be changed by name, as
/// `[[event]]` patches do.
fn ensure_nodes(item: &mut Item, tier: &str) {
    if item.is_array_of_tables() {
        return;
    }
    if item.as_table().is_some_and(|t| t.is_empty()) || item.is_none() {
        let defaults = CdnConfig::default();
        let nodes = if tier == "l1" {
            defaults.l1
        } else {
            defaults.l2
        };
        let mut a = toml_edit::ArrayOfTables::new();
        for n in nodes {
            let mut t = Table::new();
            t.insert("name", toml_edit::value(n.name));
            a.push(t);
        }
        *item = Item::ArrayOfTables(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> DocumentMut {
        src.parse().unwrap()
    }

    #[test]
    fn values_are_toml_or_strings() {
        let mut d = doc("[origin]\nworkers = 4\n");
        apply(&mut d, "origin.workers", "8").unwrap();
        apply(&mut d, "origin.limit_req.rate", "10r/s").unwrap();
        let s = d.to_string();
        assert!(s.contains("workers = 8"), "{s}");
        assert!(s.contains("rate = \"10r/s\""), "{s}");
    }

    #[test]
    fn nodes_are_found_by_name_and_defaults_spelled_out() {
        let mut d = doc("name = \"x\"\n");
        apply(&mut d, "l2.shield-1.egress", "127.0.1.1-127.0.1.8").unwrap();
        let s = d.to_string();
        assert!(s.contains("name = \"shield-1\""), "{s}");
        assert!(s.contains("egress = [\"127.0.1.1-127.0.1.8\"]"), "{s}");
        let err = apply(&mut d, "l2.nope.egress", "127.0.1.1").unwrap_err();
        assert!(
            err.contains("no node is named \"nope\"; nodes: shield-1"),
            "{err}"
        );
    }

    #[test]
    fn every_workload_or_one_by_index() {
        let mut d = doc("[[workload]]\nrate = \"1/s\"\n[[workload]]\nrate = \"2/s\"\n");
        apply(&mut d, "workload.rate", "5/s").unwrap();
        assert_eq!(d.to_string().matches("rate = \"5/s\"").count(), 2);
        apply(&mut d, "workload[1].rate", "9/s").unwrap();
        assert!(d.to_string().contains("rate = \"9/s\""));
        assert!(apply(&mut d, "workload[2].rate", "1/s").is_err());
    }

    #[test]
    fn inline_tables_take_new_keys_inline() {
        let mut d = doc("origin = { state = \"up\" }\n");
        apply(&mut d, "origin.workers", "2").unwrap();
        let s = d.to_string();
        assert!(s.contains("workers = 2"), "{s}");
        let parsed: toml::Table = s.parse().unwrap();
        assert_eq!(parsed["origin"]["workers"].as_integer(), Some(2));
    }

    #[test]
    fn run_description_keys_cannot_be_swept() {
        assert!(Setting::parse("name=a,b").is_err());
        assert!(Setting::parse("origin.workers").is_err());
        assert!(Setting::parse("origin.workers=1,,2").is_err());
    }
}
