//! Where things are in a scenario file: dotted key paths and the lines they sit on.
//!
//! A [`KeyPath`] is what an error names (`cdn.l2[1].cache`); a [`LineIndex`] maps every key,
//! table header and array element of the parsed document to its 1-based line, so that an
//! error found after parsing (by serde, or by a `validate()` that only knows the dotted key)
//! can still point at the right line.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

/// One step of a [`KeyPath`]: a table key or an array index (counted from 0).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Seg {
    /// A key of a table.
    Key(String),
    /// An element of an array (or array of tables).
    Index(usize),
}

/// A dotted key path such as `cdn.l2[1].cache`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    /// The empty path (the document root).
    pub(crate) fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// Parses the dotted keys a core `ConfigError` carries (`origin.limit_req.delay`).
    pub(crate) fn dotted(s: &str) -> KeyPath {
        KeyPath(
            s.split('.')
                .filter(|k| !k.is_empty())
                .map(|k| Seg::Key(k.to_string()))
                .collect(),
        )
    }

    /// This path with `key` appended.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    /// This path with an array index appended.
    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// `self` followed by every segment of `rest`.
    pub(crate) fn join(&self, rest: &KeyPath) -> KeyPath {
        let mut p = self.clone();
        p.0.extend(rest.0.iter().cloned());
        p
    }

    /// Whether this is the document root.
    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last table key of the path, if it ends with one.
    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The path without its last segment (the root stays the root).
    pub(crate) fn parent(&self) -> KeyPath {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// The same path with every array index replaced by 0 (see [`super::error`]'s probe).
    pub(crate) fn zero_indices(&self) -> KeyPath {
        KeyPath(
            self.0
                .iter()
                .map(|s| match s {
                    Seg::Index(_) => Seg::Index(0),
                    k => k.clone(),
                })
                .collect(),
        )
    }

    /// Converts a `serde_path_to_error` path.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> KeyPath {
        use serde_path_to_error::Segment;
        KeyPath(
            path.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { .. } | Segment::Unknown => None,
                    // `Segment` is non-exhaustive; anything new is not a location.
                    #[allow(unreachable_patterns)]
                    _ => None,
                })
                .collect(),
        )
    }
}

/// Whether `key` can be written without quotes in TOML.
fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The 1-based line of every key, table header and array element in a document.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: BTreeMap<KeyPath, usize>,
}

/// The 1-based line that byte `offset` of `source` is on (one scan of the source: for a
/// single error; [`Newlines`] answers many offsets).
pub(crate) fn line_of_offset(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    1 + source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Where a source's newlines are, so that the line of any offset is a binary search:
/// counting newlines from the start for every key made loading quadratic in the number of
/// keys (20,000 `[[cdn.l1]]` tables took 6 s).
struct Newlines(Vec<usize>);

impl Newlines {
    fn new(source: &str) -> Newlines {
        Newlines(
            source
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line of byte `offset`: one more than the newlines before it.
    fn line(&self, offset: usize) -> usize {
        1 + self.0.partition_point(|&nl| nl < offset)
    }
}

impl LineIndex {
    /// Indexes a parsed document.
    pub(crate) fn new(doc: &ImDocument<&str>, source: &str) -> LineIndex {
        let mut index = LineIndex::default();
        let mut walker = Walker {
            newlines: Newlines::new(source),
            out: &mut index.lines,
        };
        walker.table(doc.as_table(), &KeyPath::root());
        index
    }

    /// The line of exactly `path`, if the document spells it out.
    pub(crate) fn exact(&self, path: &KeyPath) -> Option<usize> {
        if path.is_root() {
            return Some(1);
        }
        self.lines.get(path).copied()
    }

    /// The line of `path`, or of its nearest ancestor the document spells out (the root is
    /// line 1).
    pub(crate) fn nearest(&self, path: &KeyPath) -> usize {
        let mut p = path.clone();
        loop {
            if let Some(line) = self.exact(&p) {
                return line;
            }
            p = p.parent();
        }
    }
}

struct Walker<'a> {
    newlines: Newlines,
    out: &'a mut BTreeMap<KeyPath, usize>,
}

impl Walker<'_> {
    fn record(&mut self, path: &KeyPath, span: Option<Range<usize>>) {
        if let Some(span) = span {
            let line = self.newlines.line(span.start);
            // The first mention wins: `origin.a = 1` then `origin.b = 2` puts `origin` on
            // the first of those lines.
            self.out.entry(path.clone()).or_insert(line);
        }
    }

    fn table(&mut self, table: &Table, path: &KeyPath) {
        for (name, item) in table.iter() {
            let child = path.key(name);
            if let Item::Table(t) = item {
                // A `[header]` is where the table is; a dotted or implicit table is where
                // its key first appears.
                self.record(&child, t.span());
            }
            if let Some((key, _)) = table.get_key_value(name) {
                self.record(&child, key.span());
            }
            self.item(item, &child);
        }
    }

    fn item(&mut self, item: &Item, path: &KeyPath) {
        match item {
            Item::None => {}
            Item::Value(v) => self.value(v, path),
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(aot) => {
                for (i, t) in aot.iter().enumerate() {
                    let child = path.index(i);
                    self.record(&child, t.span());
                    self.table(t, &child);
                }
            }
        }
    }

    fn value(&mut self, value: &Value, path: &KeyPath) {
        self.record(path, value.span());
        match value {
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.value(v, &path.index(i));
                }
            }
            Value::InlineTable(t) => {
                for (name, v) in t.iter() {
                    let child = path.key(name);
                    if let Some((key, _)) = t.get_key_value(name) {
                        self.record(&child, key.span());
                    }
                    self.value(v, &child);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(src: &str) -> LineIndex {
        let doc = ImDocument::parse(src).unwrap();
        LineIndex::new(&doc, src)
    }

    fn p(s: &str) -> KeyPath {
        // Test helper: "a.b.2.c" with numbers as indices.
        KeyPath(
            s.split('.')
                .map(|k| match k.parse() {
                    Ok(n) => Seg::Index(n),
                    Err(_) => Seg::Key(k.into()),
                })
                .collect(),
        )
    }

    #[test]
    fn newline_table_agrees_with_counting() {
        let src = "a\n\nbc\nd";
        let table = Newlines::new(src);
        for offset in 0..=src.len() + 2 {
            assert_eq!(table.line(offset), line_of_offset(src, offset), "{offset}");
        }
    }

    #[test]
    fn paths_display_like_the_file_spells_them() {
        assert_eq!(p("cdn.l2.1.cache").to_string(), "cdn.l2[1].cache");
        assert_eq!(KeyPath::root().key("a b").to_string(), "\"a b\"");
    }

    #[test]
    fn every_kind_of_key_has_a_line() {
        let src = "name = 'x'\n\
                   origin.state = 'down'\n\
                   [[cdn.l2]]\n\
                   name = 'a'\n\
                   egress = [\n  '127.0.0.1',\n  'bad',\n]\n\
                   [[cdn.l2]]\n\
                   name = 'b'\n\
                   [origin.limit_req]\n\
                   rate = '1r/s'\n\
                   [[event]]\n\
                   origin = { state = 'up' }\n";
        let ix = index(src);
        assert_eq!(ix.exact(&p("name")), Some(1));
        assert_eq!(ix.exact(&p("origin.state")), Some(2));
        assert_eq!(ix.exact(&p("origin")), Some(2));
        assert_eq!(ix.exact(&p("cdn.l2.0")), Some(3));
        assert_eq!(ix.exact(&p("cdn.l2.0.egress.1")), Some(7));
        assert_eq!(ix.exact(&p("cdn.l2.1.name")), Some(10));
        assert_eq!(ix.exact(&p("origin.limit_req")), Some(11));
        assert_eq!(ix.exact(&p("origin.limit_req.rate")), Some(12));
        assert_eq!(ix.exact(&p("event.0")), Some(13));
        assert_eq!(ix.exact(&p("event.0.origin.state")), Some(14));
        assert_eq!(ix.nearest(&p("cdn.l2.1.cache")), 9);
        assert_eq!(ix.nearest(&p("workload")), 1);
    }
}
