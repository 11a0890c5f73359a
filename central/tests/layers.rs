//! Central's modules depend downwards only (docs/architecture.md): this
//! reads the sources and fails on an import of a module from the same or
//! a higher layer, so a cycle like the old one through `api/mod.rs` cannot
//! come back unnoticed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules, lowest layer first; modules in one layer may not
/// import each other.
const LAYERS: &[&[&str]] = &[
    &["error", "metrics", "roles", "systems", "energy", "alerts"],
    &["config"],
    &["internal_events"],
    &["store"],
    &["auth"],
    &["rate_limit"],
    &["live"],
    &["recognize"],
    &[
        "ingest",
        "retention",
        "vitals",
        "counting_view",
        "device_watch",
        "energy_watch",
        "energy_view",
        "notify",
        "alert_record",
    ],
    &["reports"],
    &["report_schedule"],
    &["media"],
    &["http"],
    &["app"],
    &["caller"],
    &["front_door"],
    &["api", "ws", "ui"],
    &["alert_watch"],
    &["routes"],
    &["server"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `crate::x` paths in code (comments and test modules left out).
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(braced) = rest.strip_prefix('{') {
                // `use crate::{a::X, b};`
                let end = braced.find('}').unwrap_or(braced.len());
                for part in braced[..end].split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        // The binaries and their command modules sit above everything.
        if ["main", "lib", "cmds", "bin"].contains(&top.as_str()) {
            continue;
        }
        seen.insert(top.clone());
        let Some(own) = layer(&top) else {
            wrong.push(format!("{}: module {top} is in no layer", rel.display()));
            continue;
        };
        for dep in imports(&std::fs::read_to_string(file).unwrap()) {
            if dep == top {
                continue;
            }
            match layer(&dep) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!("{}: {top} imports {dep}", rel.display())),
                None => wrong.push(format!("{}: unknown module {dep}", rel.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
    // The list covers the whole crate (a new module must be placed).
    assert!(seen.len() >= 15, "only {seen:?} found");
}

#[test]
fn the_import_reader_sees_plain_and_braced_paths() {
    let found = imports(
        "use crate::app::AppState;\nuse crate::{error::ApiError, http};\n// crate::routes\nlet x = crate::store::cameras::get();\n#[cfg(test)]\nuse crate::server;",
    );
    let want: BTreeSet<String> = ["app", "error", "http", "store"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
