//! The map is true: docs/ARCHITECTURE.md's table of modules lists every
//! module under src/ and exactly the modules each one uses (`crate::...`
//! outside its tests). A new import between modules fails here until the
//! map says so, and a map that claims an import the code no longer has
//! fails too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Edges = BTreeMap<String, BTreeSet<String>>;

/// The table under `## Modules`: each row's module and the modules its last
/// column names.
fn map() -> Edges {
    let doc = fs::read_to_string(Path::new(common::ROOT).join("docs/ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("\n## Modules\n")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a `## Modules` section");
    let section = section.split("\n## ").next().unwrap();
    let mut edges = Edges::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let module = cells[0]
            .trim_matches('`')
            .trim_end_matches('/')
            .trim_end_matches(".rs")
            .to_string();
        let uses = cells
            .last()
            .unwrap()
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|name| name.trim_end_matches('/').to_string())
            .collect();
        assert!(
            edges.insert(module.clone(), uses).is_none(),
            "`{module}` has two rows"
        );
    }
    edges
}

/// The module a file under src/ belongs to: `src/deploy/apply.rs` -> `deploy`.
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().unwrap();
    let name = first.as_os_str().to_str().unwrap();
    name.trim_end_matches(".rs").to_string()
}

/// The modules `code` names as `ROOT::NAME` or `ROOT::{NAME, ...}`, ROOT
/// being `crate`, or `super` in a file directly under src/ (whose parent
/// is the crate).
fn named(code: &str, root: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let prefix = format!("{root}::");
    for (at, _) in code.match_indices(&prefix) {
        if code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let list = match rest.strip_prefix('{') {
            Some(group) => &group[..group.find('}').unwrap_or(group.len())],
            None => rest,
        };
        for item in list.split(',') {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
            if !rest.starts_with('{') {
                break;
            }
        }
    }
    names
}

/// What the code uses: every file's `crate::` paths, comments and the test
/// module at the end of a file left out.
fn code(modules: &BTreeSet<String>) -> Edges {
    let src = Path::new(common::ROOT).join("src");
    let mut edges = Edges::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let module = module_of(relative);
            if matches!(module.as_str(), "main" | "lib") {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut used = named(&code, "crate");
            if relative.components().count() == 1 {
                used.extend(
                    named(&code, "super")
                        .into_iter()
                        .filter(|m| modules.contains(m)),
                );
            }
            let uses = edges.entry(module.clone()).or_default();
            uses.extend(used.into_iter().filter(|m| *m != module));
        }
    }
    edges
}

#[test]
fn the_architecture_map_matches_the_imports() {
    let map = map();
    let code = code(&map.keys().cloned().collect());
    let mut wrong = Vec::new();
    for module in code.keys().filter(|m| !map.contains_key(*m)) {
        wrong.push(format!("`{module}` is not in the map"));
    }
    for module in map.keys().filter(|m| !code.contains_key(*m)) {
        wrong.push(format!(
            "the map lists `{module}`, which src/ does not have"
        ));
    }
    for (module, uses) in &code {
        let Some(allowed) = map.get(module) else {
            continue;
        };
        for used in uses.difference(allowed) {
            wrong.push(format!(
                "`{module}` uses `{used}`, which the map does not allow"
            ));
        }
        for claimed in allowed.difference(uses) {
            wrong.push(format!(
                "the map says `{module}` uses `{claimed}`, which it does not"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/ARCHITECTURE.md and src/ disagree; change the code or the map (in the same commit):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn imports_are_read_as_the_compiler_reads_them() {
    let names = named(
        "use crate::spec::{Host, Role};\nuse crate::{dialect, layout::Paths};\nlet x = crate::yaml::one_of(&a);\nlet y = notcrate::z;",
        "crate",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["dialect", "layout", "spec", "yaml"]
    );
}
