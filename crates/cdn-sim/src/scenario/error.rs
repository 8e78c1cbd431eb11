//! [`ScenarioError`], and the translation of serde's and toml's messages into its one-line
//! house style: `file:line: dotted.key: what is wrong; allowed: ...`.

use super::locate::{KeyPath, LineIndex};
use serde::de::DeserializeOwned;

/// Why a scenario file was rejected: one line naming the file, the line, the dotted key,
/// what is wrong and what is allowed.
///
/// ```
/// use cdn_sim::scenario::Scenario;
/// let src = "name = \"x\"\n[origin]\nstate = \"dwn\"\n[[workload]]\n";
/// let err = Scenario::from_toml(src, "bad.toml").unwrap_err();
/// assert_eq!(err.line, Some(3));
/// assert_eq!(err.key.as_deref(), Some("origin.state"));
/// assert!(err.to_string().starts_with("bad.toml:3: origin.state: unknown value \"dwn\"; allowed: up, down,"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(file, line, key, message))]
#[non_exhaustive]
pub struct ScenarioError {
    /// The file, as the caller named it.
    pub file: String,
    /// The 1-based line, when the problem is on one.
    pub line: Option<usize>,
    /// The dotted key, e.g. `cdn.l2[1].cache` (array indices count from 0).
    pub key: Option<String>,
    /// What is wrong and what is allowed; never contains a newline.
    pub message: String,
}

fn render(file: &str, line: &Option<usize>, key: &Option<String>, message: &str) -> String {
    let mut out = file.to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(": {key}"));
    }
    out.push_str(": ");
    out.push_str(message);
    out
}

impl ScenarioError {
    /// An error about `file` as a whole (no line, no key).
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.into(),
            line: None,
            key: None,
            message: one_line(&message.into()),
        }
    }

    /// An error at `line`, about `key` (either may be absent).
    pub fn at(
        file: impl Into<String>,
        line: Option<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.into(),
            line,
            key,
            message: one_line(&message.into()),
        }
    }
}

/// Folds a multi-line message into one line: `a\nb` → `a; b`.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A problem found in a scenario, located by key only; [`Invalid::locate`] adds the line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Invalid {
    /// The key the message is about.
    pub(crate) key: KeyPath,
    /// What is wrong and what is allowed.
    pub(crate) message: String,
    /// Where to point when `key` itself is not written in the file (e.g. the `arrival`
    /// that makes a missing `count` required).
    pub(crate) near: Option<KeyPath>,
}

impl Invalid {
    /// A problem with `key`.
    pub(crate) fn new(key: KeyPath, message: impl Into<String>) -> Invalid {
        Invalid {
            key,
            message: message.into(),
            near: None,
        }
    }

    /// Points at `near` when `key` is not in the file.
    pub(crate) fn near(mut self, near: KeyPath) -> Invalid {
        self.near = Some(near);
        self
    }

    /// Prefixes the key (and `near`) with `prefix`, for problems found in a section.
    pub(crate) fn under(mut self, prefix: &KeyPath) -> Invalid {
        self.key = prefix.join(&self.key);
        self.near = self.near.map(|n| prefix.join(&n));
        self
    }

    /// The error with the line of `key` (else of `near`, else of `key`'s nearest ancestor).
    pub(crate) fn locate(self, file: &str, lines: &LineIndex) -> ScenarioError {
        let line = lines
            .exact(&self.key)
            .or_else(|| self.near.as_ref().and_then(|n| lines.exact(n)))
            .unwrap_or_else(|| lines.nearest(&self.key));
        let key = (!self.key.is_root()).then(|| self.key.to_string());
        ScenarioError::at(file, Some(line), key, self.message)
    }

    /// The error without a line (for a [`super::Scenario`] built in code).
    pub(crate) fn unlocated(self, file: &str) -> ScenarioError {
        let key = (!self.key.is_root()).then(|| self.key.to_string());
        ScenarioError::at(file, None, key, self.message)
    }
}

/// The items between backticks in a serde message: "unknown field `a`, expected `b` or `c`"
/// gives `a`, `b`, `c`.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest allowed spelling of a misspelt `word`, if one is close.
fn suggestion<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    allowed
        .iter()
        .map(|a| (distance(&word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min()
        .map(|(_, a)| a)
}

fn allowed_list(items: &[&str]) -> String {
    if items.is_empty() {
        "allowed: nothing (this table takes no keys)".to_string()
    } else {
        format!("allowed: {}", items.join(", "))
    }
}

/// Top-level keys an event may not patch: they describe the run, not the world.
pub(crate) const FIXED_FOR_EVENTS: [&str; 7] = [
    "name",
    "description",
    "seed",
    "profile",
    "duration",
    "workload",
    "event",
];

/// The keys an `[[event]]` table takes.
pub(crate) const EVENT_KEYS: [&str; 5] = ["at", "cdn", "network", "origin", "l2"];

/// How a TOML value looks in a message: `"four"`, `-1`, `true`, `a table`.
pub(crate) fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(_) => "a table".into(),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Datetime(d) => format!("the date-time {d}"),
        other => other.to_string(),
    }
}

/// The value at `path` inside `root`.
pub(crate) fn value_at<'a>(root: &'a toml::Value, path: &KeyPath) -> Option<&'a toml::Value> {
    use super::locate::Seg;
    path.0.iter().try_fold(root, |v, seg| match seg {
        Seg::Key(k) => v.as_table()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

/// Whether `path` is one `[[event]]` table (`event[i]`).
fn is_event_table(path: &KeyPath) -> bool {
    use super::locate::Seg;
    matches!(path.0.as_slice(), [Seg::Key(k), Seg::Index(_)] if k == "event")
}

/// What serde's "expected u32" means to someone writing TOML.
fn expected_in_words(expected: &str) -> String {
    let range = |max: u64| format!("an integer from 0 to {max}");
    match expected.trim() {
        "u8" => range(u8::MAX.into()),
        "u16" => range(u16::MAX.into()),
        "u32" => range(u32::MAX.into()),
        "u64" | "usize" => range(u64::MAX),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "a boolean (true or false)".into(),
        "a string" | "string only" | "a borrowed string" | "a character" => "a string".into(),
        "a sequence" => "an array".into(),
        e if e == "a map" || e.starts_with("struct ") || e.starts_with("a table") => {
            "a table".into()
        }
        e => e.to_string(),
    }
}

/// Translates a deserialization error into `(key, message)` in house style.
///
/// * `path` is where serde failed, relative to `root` (the value that was deserialized);
/// * `probe` re-deserializes a one-key document with a nonsense string at a path and returns
///   the allowed values or forms that the field's own error names (for "expected a string,
///   found 19" it adds "allowed: a number with a unit: ...").
pub(crate) fn translate(
    path: KeyPath,
    message: &str,
    root: &toml::Value,
    probe: &dyn Fn(&KeyPath) -> Option<String>,
) -> Invalid {
    let message = one_line(message);
    let found = value_at(root, &path).map(describe);

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let items = backticked(rest);
        let (field, allowed) = items.split_first().unwrap_or((&"?", &[]));
        if is_event_table(&path.parent()) && FIXED_FOR_EVENTS.contains(field) {
            return Invalid::new(
                path,
                format!(
                    "`{field}` cannot be changed by an event; {}",
                    allowed_list(&EVENT_KEYS)
                ),
            );
        }
        let hint = suggestion(field, allowed)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Invalid::new(
            path,
            format!("unknown key `{field}`; {}{hint}", allowed_list(allowed)),
        );
    }

    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let items = backticked(rest);
        let (variant, allowed) = items.split_first().unwrap_or((&"?", &[]));
        return match value_at(root, &path) {
            Some(toml::Value::String(_)) | None => Invalid::new(
                path,
                format!("unknown value {variant:?}; {}", allowed_list(allowed)),
            ),
            Some(v) => Invalid::new(
                path,
                format!(
                    "expected a string, found {}; {}",
                    describe(v),
                    allowed_list(allowed)
                ),
            ),
        };
    }

    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = backticked(rest).first().copied().unwrap_or("?").to_string();
        let key = path.key(&field);
        let forms = probe(&key).map(|f| format!(" ({f})")).unwrap_or_default();
        return Invalid::new(key, format!("missing required key `{field}`{forms}"));
    }

    // "invalid type: integer `3`, expected u32" / "invalid value: ..., expected ..."
    let expected = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected ").map(|(_, e)| e))
        .or_else(|| (message == "wanted string or table").then_some("a string"));
    if let Some(expected) = expected {
        let expected = expected_in_words(expected);
        let found = found.unwrap_or_else(|| "something else".into());
        let mut out = format!("expected {expected}, found {found}");
        if expected == "an array" && found == "a table" {
            out = format!(
                "expected an array of tables (write [[{path}]] for each entry, or \
                 {} = [{{...}}]), found a table",
                path.last_key().unwrap_or("key")
            );
        }
        if expected == "a string" {
            if let Some(forms) = probe(&path) {
                out.push_str("; ");
                out.push_str(&forms);
            }
        }
        return Invalid::new(path, out);
    }

    Invalid::new(path, message)
}

/// What a field accepts, read from the error it gives for a nonsense string: "allowed: up,
/// down" for an enum, the unit parser's forms for a duration, size, rate or address.
pub(crate) fn forms_from_probe_error(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let items = backticked(rest);
        return Some(allowed_list(items.get(1..).unwrap_or(&[])));
    }
    if let Some(rest) = message.strip_prefix("unknown value ") {
        // Our own enums (urls, popularity) already say "...; allowed: ...".
        return rest.split_once("; ").map(|(_, a)| a.to_string());
    }
    message
        .split_once(": expected ")
        .map(|(_, forms)| format!("allowed: {forms}"))
}

/// Deserializes a document that holds only a nonsense string at `path` (array indices become
/// 0) as `T`, and returns what the field says it accepts.
///
/// Missing-key errors come after every present key has been read, so the field at `path` is
/// the first thing that fails.
pub(crate) fn probe<T: DeserializeOwned>(path: &KeyPath) -> Option<String> {
    use super::locate::Seg;
    const NONSENSE: &str = "\u{1}";
    let path = path.zero_indices();
    let mut value = toml::Value::String(NONSENSE.into());
    for seg in path.0.iter().rev() {
        value = match seg {
            Seg::Key(k) => {
                let mut t = toml::Table::new();
                t.insert(k.clone(), value);
                toml::Value::Table(t)
            }
            Seg::Index(_) => toml::Value::Array(vec![value]),
        };
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => None,
        Err(e) => {
            if KeyPath::from_serde(e.path()) != path {
                return None;
            }
            forms_from_probe_error(e.into_inner().message())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_missing_parts() {
        let e = ScenarioError::at("a.toml", Some(3), Some("origin.state".into()), "bad");
        assert_eq!(e.to_string(), "a.toml:3: origin.state: bad");
        assert_eq!(
            ScenarioError::new("a.toml", "x\ny").to_string(),
            "a.toml: x; y"
        );
        let e = ScenarioError::at("a.toml", Some(2), None, "oops");
        assert_eq!(e.to_string(), "a.toml:2: oops");
    }

    #[test]
    fn suggestions_are_close_spellings_only() {
        let allowed = ["connect_timeout", "read_timeout", "collapse"];
        assert_eq!(
            suggestion("conect_timeout", &allowed),
            Some("connect_timeout")
        );
        assert_eq!(suggestion("foo", &allowed), None);
    }

    #[test]
    fn expected_types_are_in_words() {
        assert_eq!(expected_in_words("u16"), "an integer from 0 to 65535");
        assert_eq!(expected_in_words("struct CdnConfig"), "a table");
        assert_eq!(expected_in_words("a boolean"), "a boolean (true or false)");
    }
}
