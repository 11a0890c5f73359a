//! The vendored JavaScript is what docs/vendor.md says it is: every file
//! in its table exists and has the sha256 given there, and every file in
//! the vendor directories is in the table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn listed(root: &Path) -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(root.join("docs/vendor.md")).unwrap();
    doc.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            // | `file` | `sha256` | source | licence |
            let file = cols.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let sha = cols.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((file.to_owned(), sha.to_owned()))
        })
        .collect()
}

#[test]
fn vendored_files_match_the_manifest() {
    let root = atrium_testkit::workspace_root();
    let table = listed(&root);
    assert!(
        table.len() >= 6,
        "the table lists the vendored files: {table:?}"
    );
    for (file, sha) in &table {
        let bytes = std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(
            &got, sha,
            "{file} differs from docs/vendor.md (scripts/vendor-js reproduces it)"
        );
    }
    for dir in ["central/ui/assets/vendor", "shared/testkit/vendor"] {
        for pkg in std::fs::read_dir(root.join(dir)).unwrap() {
            for f in std::fs::read_dir(pkg.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                assert!(
                    table.contains_key(&rel),
                    "{rel} is vendored but not in docs/vendor.md"
                );
            }
        }
    }
}
