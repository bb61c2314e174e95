//! A serde deserializer over [`Node`] trees that reports EVERY problem, each
//! with its location, instead of stopping at the first.
//!
//! Unknown keys are reported and skipped as they are met. A value that fails to
//! deserialize is reported and set aside ("poisoned"), and the whole document is
//! deserialized again without it; a required key that was set aside makes its
//! parent fail silently in turn. Each pass sets aside at least one more node, so
//! the loop ends, and a document with type errors in optional places still
//! yields a value that semantic validation can check further.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::node::{Mark, Node, NodeKind, Resolved};
use super::words::{did_you_mean, one_of, suggestion};

/// One problem, at one place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub mark: Mark,
    /// Dotted key path, e.g. `hosts[1].private_address`.
    pub path: String,
    pub message: String,
}

/// What deserializing a document gave.
pub struct Typed<T> {
    /// `None` when the problems reach the top of the document.
    pub value: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
    /// Paths whose values were set aside; checks of the value under them would
    /// only echo the problems already reported.
    pub set_aside: Vec<String>,
    /// For each list that lost items: the file's index of each item kept.
    pub kept: HashMap<String, Vec<usize>>,
}

impl<T> Typed<T> {
    /// Whether a finding at `path` (in the file's indexes) would only echo a
    /// problem already reported: it is under a value set aside, or it is about
    /// a list as a whole while that list lost items.
    pub fn is_set_aside(&self, path: &str) -> bool {
        self.kept.contains_key(path)
            || self.set_aside.iter().any(|p| {
                path == p
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
    }

    /// Turns a path in the value's indexes into the file's: once a list lost
    /// items, the value's `hosts[1]` may be the file's `hosts[2]`.
    pub fn file_path(&self, path: &str) -> String {
        let mut out = String::new();
        for part in path.split('.') {
            let mut pieces = part.split('[');
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(pieces.next().unwrap_or_default());
            for piece in pieces {
                let index: usize = piece.trim_end_matches(']').parse().unwrap_or_default();
                let original = self
                    .kept
                    .get(&out)
                    .and_then(|k| k.get(index))
                    .copied()
                    .unwrap_or(index);
                out.push_str(&format!("[{original}]"));
            }
        }
        out
    }
}

/// Deserializes `root`, collecting every diagnostic.
pub fn from_node<T: DeserializeOwned>(root: &Node) -> Typed<T> {
    let session = RefCell::new(Session::default());
    loop {
        let de = NodeDe {
            node: root,
            path: String::new(),
            session: &session,
        };
        let result = T::deserialize(de);
        let outcome = session.borrow_mut().settle(root, "", result);
        let finished = outcome.is_ok() || session.borrow().poisoned.contains(&root.id);
        if finished {
            let mut session = session.into_inner();
            session.diagnostics.sort();
            session
                .kept
                .retain(|_, kept| kept.iter().enumerate().any(|(i, k)| i != *k));
            return Typed {
                value: outcome.ok(),
                diagnostics: session.diagnostics,
                set_aside: session.set_aside,
                kept: session.kept,
            };
        }
        session.borrow_mut().kept.clear();
    }
}

/// Where in `root` the dotted `path` was written; a path to a key that is not
/// there (a default) points at its nearest written ancestor. A key that
/// holds dots itself (`host.sysctl.vm.swappiness`) is found too: the
/// longest run of segments that names a key of the mapping wins.
pub fn locate(root: &Node, path: &str) -> Mark {
    let segments: Vec<Segment> = split_path(path).collect();
    let mut node = root;
    let mut i = 0;
    while i < segments.len() {
        let child = match (&node.kind, &segments[i]) {
            (NodeKind::Map(entries), Segment::Key(_)) => (i..segments.len())
                .map_while(|j| match &segments[j] {
                    Segment::Key(_) => Some(j),
                    Segment::Index(_) => None,
                })
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .find_map(|j| {
                    let key = segments[i..=j]
                        .iter()
                        .filter_map(|s| match s {
                            Segment::Key(k) => Some(*k),
                            Segment::Index(_) => None,
                        })
                        .collect::<Vec<_>>()
                        .join(".");
                    entries
                        .iter()
                        .find(|(k, _)| k.scalar_text() == Some(key.as_str()))
                        .map(|(_, v)| (v, j + 1))
                }),
            (NodeKind::Seq(items), Segment::Index(n)) => items.get(*n).map(|v| (v, i + 1)),
            _ => None,
        };
        match child {
            Some((child, next)) => {
                node = child;
                i = next;
            }
            None => break,
        }
    }
    node.mark
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut pieces = part.split('[');
        let key = pieces.next().filter(|k| !k.is_empty()).map(Segment::Key);
        let indexes =
            pieces.filter_map(|p| p.trim_end_matches(']').parse().ok().map(Segment::Index));
        key.into_iter().chain(indexes.collect::<Vec<_>>())
    })
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[derive(Default)]
struct Session {
    poisoned: HashSet<usize>,
    diagnostics: Vec<Diagnostic>,
    /// (mapping id, key) of required keys that an unknown key already suggested.
    suggested: HashSet<(usize, String)>,
    set_aside: Vec<String>,
    /// File indexes of the items each list presented in this pass.
    kept: HashMap<String, Vec<usize>>,
}

impl Session {
    fn record(&mut self, mark: Mark, path: &str, message: String) {
        let diagnostic = Diagnostic {
            mark,
            path: path.to_string(),
            message,
        };
        if !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    /// Turns the outcome of deserializing `node` into a recorded diagnostic and
    /// sets the node aside, unless it succeeded or was already recorded deeper.
    fn settle<T>(&mut self, node: &Node, path: &str, result: Result<T, Error>) -> Result<T, Error> {
        let message = match result {
            Ok(value) => return Ok(value),
            Err(Error::Recorded) => return Err(Error::Recorded),
            Err(Error::Missing(field)) => {
                if !self.missing_is_explained(node, field) {
                    let message = "required key is missing".to_string();
                    self.record(node.mark, &join(path, field), message);
                }
                self.set_aside(node, path);
                return Err(Error::Recorded);
            }
            Err(Error::Expected(expected)) => {
                format!("expected {expected}, found {}", node.describe())
            }
            Err(Error::Message(message)) => message,
        };
        self.record(node.mark, path, message);
        self.set_aside(node, path);
        Err(Error::Recorded)
    }

    fn set_aside(&mut self, node: &Node, path: &str) {
        self.poisoned.insert(node.id);
        self.set_aside.push(path.to_string());
    }

    /// A required key is absent because its value was set aside, or because a
    /// misspelling of it was already reported.
    fn missing_is_explained(&self, node: &Node, field: &str) -> bool {
        if self.suggested.contains(&(node.id, field.to_string())) {
            return true;
        }
        let NodeKind::Map(entries) = &node.kind else {
            return false;
        };
        entries.iter().any(|(k, v)| {
            k.scalar_text() == Some(field)
                && (self.poisoned.contains(&k.id) || self.poisoned.contains(&v.id))
        })
    }
}

#[derive(Debug)]
enum Error {
    /// Already a diagnostic; the failing node has been set aside.
    Recorded,
    Missing(&'static str),
    /// What the field wanted; the message adds what the node holds.
    Expected(String),
    Message(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Recorded => write!(f, "(recorded)"),
            Error::Missing(field) => write!(f, "required key `{field}` is missing"),
            Error::Expected(e) => write!(f, "expected {e}"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }

    fn invalid_type(_: de::Unexpected, expected: &dyn de::Expected) -> Self {
        Error::Expected(humanize(&expected.to_string()))
    }

    fn invalid_value(_: de::Unexpected, expected: &dyn de::Expected) -> Self {
        Error::Expected(humanize(&expected.to_string()))
    }

    fn invalid_length(len: usize, expected: &dyn de::Expected) -> Self {
        Error::Message(format!("expected {expected}, found {len} items"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::Message(format!(
            "unknown value `{variant}`: expected {}{}",
            one_of(expected),
            suggestion(variant, expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::Missing(field)
    }

    /// Met only by types that read a mapping themselves (`deny_unknown_fields`
    /// under `deserialize_any`); worded as the other unknown keys are.
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = match did_you_mean(field, expected) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("valid keys here: {}", expected.join(", ")),
        };
        Error::Message(format!("unknown key; {hint}"))
    }
}

/// serde's names for what it expected, as an operator would say them.
fn humanize(expected: &str) -> String {
    let range = |min: i128, max: i128| format!("a whole number from {min} to {max}");
    match expected {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" | "usize" => range(0, u64::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => range(i64::MIN.into(), i64::MAX.into()),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        e if e.starts_with("struct ") => "a mapping".into(),
        e if e.starts_with("enum ") => "one of the documented values".into(),
        e => e.into(),
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    session: &'a RefCell<Session>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node, path: String) -> NodeDe<'a> {
        NodeDe {
            node,
            path,
            session: self.session,
        }
    }

    fn deserialize_child<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        node: &'a Node,
        path: String,
    ) -> Result<S::Value, Error> {
        let result = seed.deserialize(self.child(node, path.clone()));
        self.session.borrow_mut().settle(node, &path, result)
    }

    fn is_poisoned(&self, node: &Node) -> bool {
        self.session.borrow().poisoned.contains(&node.id)
    }

    fn wrong_type(&self, expected: &str) -> Error {
        Error::Expected(expected.to_string())
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Seq(_) => self.deserialize_seq(visitor),
            NodeKind::Map(_) => self.deserialize_map(visitor),
            NodeKind::Scalar { .. } => match self.node.resolve().expect("scalar") {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
        }
    }

    /// Any written scalar reads as text: `port: 80` is fine where a string is wanted.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match (self.node.scalar_text(), self.node.resolve()) {
            (Some(_), Some(Resolved::Null)) | (None, _) => Err(self.wrong_type("a string")),
            (Some(text), _) => visitor.visit_str(text),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.resolve() {
            Some(Resolved::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let NodeKind::Seq(items) = &self.node.kind else {
            return Err(self.wrong_type("a list"));
        };
        visitor.visit_seq(Items {
            de: &self,
            items: items.iter().enumerate(),
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_mapping(visitor, None)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_mapping(visitor, Some(fields))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor.visit_enum(text.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Variant {
                    de: &self,
                    name: key.scalar_text().unwrap_or_default(),
                    value,
                })
            }
            _ => Err(Error::Message(format!(
                "expected {} (a single key), found {}",
                one_of(variants),
                self.node.describe()
            ))),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.resolve() {
            Some(Resolved::Null) => visitor.visit_unit(),
            _ => Err(self.wrong_type("nothing")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit_struct tuple tuple_struct identifier
    }
}

impl<'a> NodeDe<'a> {
    fn visit_mapping<'de, V: Visitor<'de>>(
        &self,
        visitor: V,
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, Error> {
        let NodeKind::Map(entries) = &self.node.kind else {
            return Err(self.wrong_type("a mapping"));
        };
        let mut kept = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if self.is_poisoned(key) || self.is_poisoned(value) {
                continue;
            }
            let name = key.scalar_text().unwrap_or_default();
            if let Some(fields) = fields.filter(|f| !f.contains(&name)) {
                self.report_unknown_key(key, name, fields);
                continue;
            }
            kept.push((key, value));
        }
        visitor.visit_map(Entries {
            de: self,
            entries: kept.into_iter(),
            value: None,
        })
    }

    fn report_unknown_key(&self, key: &Node, name: &str, fields: &[&str]) {
        let mut session = self.session.borrow_mut();
        let hint = match did_you_mean(name, fields) {
            Some(close) => {
                session.suggested.insert((self.node.id, close.to_string()));
                format!("did you mean `{close}`?")
            }
            None => format!("valid keys here: {}", fields.join(", ")),
        };
        let path = join(&self.path, name);
        session.record(key.mark, &path, format!("unknown key; {hint}"));
    }
}

struct Items<'a, 'b, I> {
    de: &'b NodeDe<'a>,
    items: I,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> SeqAccess<'de> for Items<'a, '_, I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, item)) = self.items.by_ref().find(|(_, n)| !self.de.is_poisoned(n)) else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.de.path);
        let result = self.de.deserialize_child(seed, item, path);
        if result.is_ok() {
            let mut session = self.de.session.borrow_mut();
            session
                .kept
                .entry(self.de.path.clone())
                .or_default()
                .push(index);
        }
        result.map(Some)
    }
}

struct Entries<'a, 'b, I> {
    de: &'b NodeDe<'a>,
    entries: I,
    value: Option<(&'a Node, String)>,
}

impl<'de, 'a, I: Iterator<Item = (&'a Node, &'a Node)>> MapAccess<'de> for Entries<'a, '_, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let name = key.scalar_text().unwrap_or_default();
        let path = join(&self.de.path, name);
        self.value = Some((value, path.clone()));
        self.de.deserialize_child(seed, key, path).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (value, path) = self.value.take().expect("a value follows its key");
        self.de.deserialize_child(seed, value, path)
    }
}

struct Variant<'a, 'b> {
    de: &'b NodeDe<'a>,
    name: &'a str,
    value: &'a Node,
}

impl<'de, 'a, 'b> EnumAccess<'de> for Variant<'a, 'b> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let tag = seed.deserialize(self.name.into_deserializer())?;
        Ok((tag, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Err(Error::Message(format!(
            "`{}` takes no settings; write it as a plain value",
            self.name
        )))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let path = join(&self.de.path, self.name);
        self.de.deserialize_child(seed, self.value, path)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        let path = join(&self.de.path, self.name);
        de::Deserializer::deserialize_seq(self.de.child(self.value, path), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = join(&self.de.path, self.name);
        let child = self.de.child(self.value, path.clone());
        let result = child.visit_mapping(visitor, Some(fields));
        self.de
            .session
            .borrow_mut()
            .settle(self.value, &path, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::node::parse;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[allow(dead_code)]
    struct Server {
        name: String,
        port: u16,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        mode: Mode,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        #[default]
        Fast,
        SelfSigned,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[allow(dead_code)]
    struct Doc {
        servers: Vec<Server>,
        #[serde(default)]
        note: Option<String>,
    }

    fn run(src: &str) -> (Option<Doc>, Vec<String>) {
        let root = parse(src).unwrap().unwrap();
        let typed = from_node::<Doc>(&root);
        let lines = typed
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}: {}", d.mark, d.path, d.message))
            .collect();
        (typed.value, lines)
    }

    #[test]
    fn a_clean_document_deserializes() {
        let (doc, diags) = run("servers:\n  - {name: a, port: 80, mode: self-signed}\n");
        assert!(diags.is_empty(), "{diags:?}");
        let doc = doc.unwrap();
        assert_eq!(doc.servers[0].port, 80);
        assert_eq!(doc.servers[0].mode, Mode::SelfSigned);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let src = "\
servers:
  - name: a
    port: http
    prot: 1
  - name: b
    port: 70000
    mode: slow
nots: x
";
        let (doc, diags) = run(src);
        assert_eq!(
            diags,
            [
                "3:11: servers[0].port: expected a whole number from 0 to 65535, found string \"http\"",
                "4:5: servers[0].prot: unknown key; did you mean `port`?",
                "6:11: servers[1].port: expected a whole number from 0 to 65535, found integer `70000`",
                "7:11: servers[1].mode: unknown value `slow`: expected one of `fast`, `self-signed`",
                "8:1: nots: unknown key; did you mean `note`?",
            ]
        );
        let doc = doc.expect("what deserialized remains, for further checks");
        assert!(doc.servers.is_empty());
    }

    #[test]
    fn missing_required_keys_point_at_their_mapping() {
        let (_, diags) = run("servers:\n  - name: a\n");
        assert_eq!(diags, ["2:5: servers[0].port: required key is missing"]);
    }

    #[test]
    fn a_misspelled_required_key_is_reported_once() {
        let (_, diags) = run("servers:\n  - name: a\n    prot: 80\n");
        assert_eq!(
            diags,
            ["3:5: servers[0].prot: unknown key; did you mean `port`?"]
        );
    }

    #[test]
    fn optional_values_set_aside_leave_a_value() {
        let root = parse("servers: []\nnote: [1]\n").unwrap().unwrap();
        let typed = from_node::<Doc>(&root);
        assert_eq!(typed.value.as_ref().unwrap().note, None);
        assert!(typed.is_set_aside("note"));
        assert!(!typed.is_set_aside("notes"));
    }

    #[test]
    fn paths_of_a_list_that_lost_items_map_back_to_the_file() {
        let src = "servers:\n  - {name: a, port: x}\n  - {name: b, port: 2, tags: [1, [2], 3]}\n";
        let root = parse(src).unwrap().unwrap();
        let typed = from_node::<Doc>(&root);
        let doc = typed.value.as_ref().unwrap();
        assert_eq!(doc.servers[0].name, "b");
        assert_eq!(typed.file_path("servers[0].tags[1]"), "servers[1].tags[2]");
        assert!(typed.is_set_aside("servers"));
        assert!(typed.is_set_aside("servers[0].port"));
        assert!(!typed.is_set_aside("servers[1].port"));
    }

    #[test]
    fn locate_finds_written_keys_and_falls_back_to_ancestors() {
        let root = parse("servers:\n  - name: a\n    port: 1\n")
            .unwrap()
            .unwrap();
        assert_eq!(locate(&root, "servers[0].port"), Mark { line: 3, col: 11 });
        assert_eq!(locate(&root, "servers[0].tags"), Mark { line: 2, col: 5 });
        assert_eq!(locate(&root, "note"), Mark { line: 1, col: 1 });
        let dotted = parse("host:\n  sysctl:\n    vm.swappiness: 10\n    vm: 1\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            locate(&dotted, "host.sysctl.vm.swappiness"),
            Mark { line: 3, col: 20 }
        );
        assert_eq!(locate(&dotted, "host.sysctl.vm"), Mark { line: 4, col: 9 });
    }
}
