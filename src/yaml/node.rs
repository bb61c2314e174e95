//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Scalars keep their source text and whether they were quoted; their type is
//! resolved only when a field asks for one (YAML 1.2 core schema), so a string
//! field accepts `3000` and a number field refuses `"3000"` with a clear message.

use std::collections::{HashMap, HashSet};
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Values that aliases may add to a document, all aliases together: a
/// spec needs a handful; a "billion laughs" bomb needs billions.
const ALIAS_BUDGET: usize = 10_000;

/// How deep mappings and lists may nest (a spec needs five levels).
const MAX_DEPTH: usize = 64;

/// 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Self {
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Unique within one document; lets the deserializer set nodes aside.
    pub id: usize,
    pub mark: Mark,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar { text: String, quoted: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a scalar resolves to under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        let NodeKind::Scalar { text, quoted } = &self.kind else {
            return None;
        };
        if *quoted {
            return Some(Resolved::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
            "true" | "True" | "TRUE" => Resolved::Bool(true),
            "false" | "False" | "FALSE" => Resolved::Bool(false),
            t => {
                if let Some(i) = parse_int(t) {
                    Resolved::Int(i)
                } else if let Some(f) = parse_float(t) {
                    Resolved::Float(f)
                } else {
                    Resolved::Str(t)
                }
            }
        })
    }

    /// How the node reads in a message: `string "abc"`, `integer 7`, `a mapping`.
    pub fn describe(&self) -> String {
        match (&self.kind, self.resolve()) {
            (NodeKind::Seq(_), _) => "a list".into(),
            (NodeKind::Map(_), _) => "a mapping".into(),
            (_, Some(Resolved::Null)) => "nothing (null)".into(),
            (_, Some(Resolved::Bool(b))) => format!("boolean `{b}`"),
            (_, Some(Resolved::Int(i))) => format!("integer `{i}`"),
            (NodeKind::Scalar { text, .. }, Some(Resolved::Float(_))) => {
                format!("decimal number `{}`", crate::dialect::terminal::shown(text))
            }
            (_, Some(Resolved::Str(s))) => {
                format!("string {}", crate::dialect::terminal::quoted(s))
            }
            (_, _) => unreachable!("scalars always resolve"),
        }
    }

    /// The text of a scalar, whatever it resolves to.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (sign, digits) = match t.as_bytes().first()? {
        b'-' => (-1, &t[1..]),
        b'+' => (1, &t[1..]),
        _ => (1, t),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(sign * value)
}

fn parse_float(t: &str) -> Option<f64> {
    let body = t.trim_start_matches(['-', '+']);
    let numeric = body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit());
    match body {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => None,
        _ if numeric => t.parse().ok(),
        _ => None,
    }
}

/// A problem found while reading YAML, before any typing.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

/// Where in `source` the byte at `offset` is.
pub fn mark_at(source: &[u8], offset: usize) -> Mark {
    let before = &source[..offset.min(source.len())];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Mark {
        line: before.iter().filter(|b| **b == b'\n').count() + 1,
        col,
    }
}

/// The first character YAML does not allow in a document (control
/// characters but tab and line breaks, DEL, C1 controls, surrogates and
/// non-characters), and the byte-order mark, which editors hide: located,
/// so that nothing after it is silently dropped.
pub fn forbidden_character(source: &str) -> Option<SyntaxError> {
    let (offset, c) = source.char_indices().find(|(_, c)| {
        let code = *c as u32;
        let printable = matches!(c, '\t' | '\n' | '\r' | '\u{85}')
            || matches!(code, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
        !printable || *c == '\u{feff}'
    })?;
    let message = match c {
        '\0' => "a NUL byte: deployer.yaml must be text; nothing after it would be read".into(),
        '\u{feff}' => "a byte-order mark (U+FEFF): save the file as UTF-8 without one".into(),
        c => format!(
            "the control character U+{:04X}, which YAML does not allow: remove it (write it as an escape, like `\\t`, inside double quotes)",
            c as u32
        ),
    };
    Some(SyntaxError {
        mark: mark_at(source.as_bytes(), offset),
        message,
    })
}

/// Parses one YAML document. An empty document is `Ok(None)`.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    Parser::new_from_str(source)
        .load(&mut builder, true)
        .map_err(|e| SyntaxError {
            mark: (*e.marker()).into(),
            message: e.info().to_string(),
        })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root)
}

#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    /// A mapping's pending key, per open mapping on the stack.
    keys: Vec<Option<Node>>,
    /// The keys each open mapping has, for duplicates.
    seen: Vec<HashSet<String>>,
    /// Values aliases have added so far.
    aliased: usize,
    anchors: HashMap<usize, Node>,
    /// Anchor id of each open collection, to record it when it closes.
    open_anchors: Vec<usize>,
    root: Option<Node>,
    documents: usize,
    next_id: usize,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, mark: Mark, message: String) {
        self.error.get_or_insert(SyntaxError { mark, message });
    }

    fn new_node(&mut self, mark: Mark, kind: NodeKind) -> Node {
        self.next_id += 1;
        Node {
            id: self.next_id,
            mark,
            kind,
        }
    }

    /// Gives a finished node to its parent (or makes it the root).
    fn attach(&mut self, node: Node) {
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => {
                let pending = self.keys.last_mut().expect("a key slot per mapping");
                match pending.take() {
                    None => {
                        if !matches!(node.kind, NodeKind::Scalar { .. }) {
                            let mark = node.mark;
                            self.fail(mark, "mapping keys must be plain names".into());
                            return;
                        }
                        let text = node.scalar_text().unwrap_or_default();
                        let seen = self.seen.last_mut().expect("a key set per mapping");
                        if !seen.insert(text.to_string()) {
                            let first = entries
                                .iter()
                                .find(|(k, _)| k.scalar_text() == Some(text))
                                .map_or(node.mark, |(k, _)| k.mark);
                            let message = format!(
                                "duplicate key `{}` (first written at line {})",
                                crate::dialect::terminal::shown(text),
                                first.line
                            );
                            let mark = node.mark;
                            self.fail(mark, message);
                            return;
                        }
                        *pending = Some(node);
                    }
                    Some(key) => entries.push((key, node)),
                }
            }
            NodeKind::Scalar { .. } => unreachable!("scalars are never open"),
        }
    }

    /// How many values `node` holds, itself included.
    fn size(node: &Node) -> usize {
        1 + match &node.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(items) => items.iter().map(Self::size).sum(),
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| Self::size(k) + Self::size(v))
                .sum(),
        }
    }

    /// A copy of an anchored node with fresh ids, so each use is its own node.
    fn renumber(&mut self, node: &Node) -> Node {
        let kind = match &node.kind {
            NodeKind::Scalar { .. } => node.kind.clone(),
            NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(|n| self.renumber(n)).collect()),
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| (self.renumber(k), self.renumber(v)))
                    .collect(),
            ),
        };
        self.new_node(node.mark, kind)
    }

    fn open(&mut self, mark: Mark, anchor: usize, kind: NodeKind) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(
                mark,
                format!("nested more than {MAX_DEPTH} levels deep; a deployer.yaml needs a few"),
            );
            return;
        }
        let is_map = matches!(kind, NodeKind::Map(_));
        let node = self.new_node(mark, kind);
        self.stack.push(node);
        self.open_anchors.push(anchor);
        if is_map {
            self.keys.push(None);
            self.seen.push(HashSet::new());
        }
    }

    fn close(&mut self) {
        let mut node = self.stack.pop().expect("close matches open");
        if let NodeKind::Map(entries) = &node.kind {
            self.keys.pop();
            self.seen.pop();
            // The parser marks a block mapping where it recognised it (after the
            // first key); people read a mapping as starting at that key.
            if let Some((first_key, _)) = entries.first() {
                node.mark = node.mark.min(first_key.mark);
            }
        }
        let anchor = self
            .open_anchors
            .pop()
            .expect("an anchor slot per collection");
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.attach(node);
    }
}

impl Builder {
    fn refuse_tag(&mut self, mark: Mark, tag: &str) {
        self.fail(
            mark,
            format!(
                "the tag `{}` is not supported: write the value plainly (only `!!str` is read, as a string)",
                crate::dialect::terminal::shown(tag)
            ),
        );
    }
}

/// A tag as written: `str` for the core schema's `!!str`, the whole tag
/// (`!custom`, `!<tag:...>`) for any other.
fn tag_name(tag: Option<&Tag>) -> Option<String> {
    let tag = tag?;
    Some(match tag.handle.as_str() {
        "tag:yaml.org,2002:" => tag.suffix.clone(),
        handle => format!("{handle}{}", tag.suffix),
    })
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let mark = Mark::from(marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        mark,
                        "only one YAML document is allowed; remove `---`".into(),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                // `!!str 3000` is the string "3000", as if quoted.
                let as_string = match tag_name(tag.as_ref()).as_deref() {
                    None => false,
                    Some("str") => true,
                    Some(other) => return self.refuse_tag(mark, other),
                };
                let quoted = style != TScalarStyle::Plain || as_string;
                let node = self.new_node(mark, NodeKind::Scalar { text, quoted });
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.attach(node);
            }
            Event::SequenceStart(anchor, tag) => match tag_name(tag.as_ref()).as_deref() {
                None | Some("seq") => self.open(mark, anchor, NodeKind::Seq(Vec::new())),
                Some(other) => self.refuse_tag(mark, other),
            },
            Event::MappingStart(anchor, tag) => match tag_name(tag.as_ref()).as_deref() {
                None | Some("map") => self.open(mark, anchor, NodeKind::Map(Vec::new())),
                Some(other) => self.refuse_tag(mark, other),
            },
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(target) => {
                    self.aliased += Self::size(&target);
                    if self.aliased > ALIAS_BUDGET {
                        return self.fail(
                            mark,
                            format!(
                                "the aliases (`*name`) expand to more than {ALIAS_BUDGET} values; write the values out"
                            ),
                        );
                    }
                    let mut copy = self.renumber(&target);
                    copy.mark = mark;
                    self.attach(copy);
                }
                None => self.fail(mark, "alias to an unknown anchor".into()),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        parse(src).unwrap().unwrap()
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let cases = [
            ("a: 3000", Resolved::Int(3000)),
            ("a: '3000'", Resolved::Str("3000")),
            ("a: 0x1f", Resolved::Int(31)),
            ("a: -2", Resolved::Int(-2)),
            ("a: 1.5", Resolved::Float(1.5)),
            ("a: true", Resolved::Bool(true)),
            ("a: yes", Resolved::Str("yes")),
            ("a: off", Resolved::Str("off")),
            ("a: ~", Resolved::Null),
            ("a:", Resolved::Null),
            ("a: 10.0.0.0/8", Resolved::Str("10.0.0.0/8")),
            ("a: 1.2.3.4", Resolved::Str("1.2.3.4")),
        ];
        for (src, want) in cases {
            let NodeKind::Map(entries) = root(src).kind else {
                panic!("{src}: not a map")
            };
            assert_eq!(entries[0].1.resolve(), Some(want), "{src}");
        }
    }

    #[test]
    fn marks_are_one_based() {
        let NodeKind::Map(entries) = root("a: 1\nbb:\n  - x\n").kind else {
            panic!()
        };
        assert_eq!(entries[1].0.mark, Mark { line: 2, col: 1 });
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(items[0].mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.mark, Mark { line: 3, col: 1 });
        assert_eq!(err.message, "duplicate key `a` (first written at line 1)");
    }

    #[test]
    fn aliases_copy_their_anchor_with_new_ids() {
        let NodeKind::Map(entries) = root("a: &x {k: 1}\nb: *x\n").kind else {
            panic!()
        };
        assert!(matches!(entries[1].1.kind, NodeKind::Map(_)));
        assert_ne!(entries[0].1.id, entries[1].1.id);
    }

    #[test]
    fn empty_and_multi_documents() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# just a comment\n").unwrap().is_none());
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.mark.line, 2);
    }
}
