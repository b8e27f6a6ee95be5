//! `tierlink init`: a starter project that validates and runs as written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The starter files, by path relative to the target folder.
const STARTER_FILES: [(&str, &str); 6] = [
    ("tierlink.toml", include_str!("starter/tierlink.toml")),
    ("tiers.toml", include_str!("../../tiers.toml")),
    (
        "connectors/example.toml",
        include_str!("starter/connector.toml"),
    ),
    (
        "mappings/example.toml",
        include_str!("starter/mapping.toml"),
    ),
    ("data/customers.csv", include_str!("starter/customers.csv")),
    ("data/orders.csv", include_str!("starter/orders.csv")),
];

/// Writes the starter files into `dir`. Refuses, writing nothing, if any of
/// them exists already.
pub fn write_starter(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let existing: Vec<String> = STARTER_FILES
        .iter()
        .map(|(path, _)| dir.join(path))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "not overwriting existing files: {} (remove them or choose another folder)",
            existing.join(", ")
        );
    }
    let mut written = Vec::new();
    for (path, contents) in STARTER_FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, contents)
            .with_context(|| format!("cannot write {}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}
