//! Connector presets: ready-made connector and mapping files for the systems
//! most of our users run (WeCom, Shopify, Zendesk, Odoo, Asterisk and
//! FreeSWITCH CDRs, an ERP database), kept in `connectors/presets/` and
//! `mappings/presets/` and embedded in the binary, so `tierlink preset add`
//! and `tierlink demo` work from any folder.
//!
//! A preset is plain configuration: copying one into a project and filling
//! in its `${VARIABLES}` (and, for hosted systems, the shop or subdomain in
//! `base_url`) is all it takes to connect a real system.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// One preset: a connector file and its mapping file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The preset's name, and the connector id it installs as by default.
    pub id: &'static str,
    /// What it connects, in a few words.
    pub summary: &'static str,
    /// The text of `connectors/presets/<id>.toml`.
    pub connector: &'static str,
    /// The text of `mappings/presets/<id>.toml`.
    pub mapping: &'static str,
}

/// Every preset, in the order `tierlink preset list` shows them.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "wecom",
        summary: "WeCom (企业微信) external contacts, fanned out over follow members",
        connector: include_str!("../connectors/presets/wecom.toml"),
        mapping: include_str!("../mappings/presets/wecom.toml"),
    },
    Preset {
        id: "shopify",
        summary: "Shopify customers and orders (Admin REST, Link paging, updated_at_min)",
        connector: include_str!("../connectors/presets/shopify.toml"),
        mapping: include_str!("../mappings/presets/shopify.toml"),
    },
    Preset {
        id: "zendesk",
        summary: "Zendesk users and tickets (incremental cursor exports), satisfaction ratings",
        connector: include_str!("../connectors/presets/zendesk.toml"),
        mapping: include_str!("../mappings/presets/zendesk.toml"),
    },
    Preset {
        id: "odoo",
        summary: "Odoo res.partner and sale.order over JSON-RPC, keyset on (write_date, id)",
        connector: include_str!("../connectors/presets/odoo.toml"),
        mapping: include_str!("../mappings/presets/odoo.toml"),
    },
    Preset {
        id: "asterisk",
        summary: "Asterisk CDR Master.csv (cdr_csv), followed as it grows",
        connector: include_str!("../connectors/presets/asterisk.toml"),
        mapping: include_str!("../mappings/presets/asterisk.toml"),
    },
    Preset {
        id: "freeswitch",
        summary: "FreeSWITCH CDR Master.csv (mod_cdr_csv example template)",
        connector: include_str!("../connectors/presets/freeswitch.toml"),
        mapping: include_str!("../mappings/presets/freeswitch.toml"),
    },
    Preset {
        id: "erp",
        summary: "An ERP's customer master and sales orders in its SQL database (MariaDB, PostgreSQL, SQLite)",
        connector: include_str!("../connectors/presets/erp.toml"),
        mapping: include_str!("../mappings/presets/erp.toml"),
    },
];

/// The preset named `id`.
pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.id == id)
}

/// A preset's connector or mapping text with literal replacements applied,
/// e.g. `("${WECOM_SECRET}", "${MY_SECRET}")` or a `base_url` line.
/// Every `from` must occur in the text, so a preset that drifted from its
/// users fails loudly instead of keeping the old value.
pub fn customize(text: &str, replacements: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut result = text.to_string();
    for (from, to) in replacements {
        if !result.contains(from) {
            bail!("the preset has no {from:?} to replace");
        }
        result = result.replace(from, to);
    }
    Ok(result)
}

/// Replaces the value of the preset's top-level `base_url = "..."` line.
pub fn with_base_url(text: &str, base_url: &str) -> anyhow::Result<String> {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !found && line.starts_with("base_url = ") {
                found = true;
                format!("base_url = {}", toml::Value::String(base_url.to_string()))
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        bail!("the preset has no base_url line");
    }
    Ok(lines.join("\n") + "\n")
}

/// Copies a preset into a project as connector `name`: writes
/// `<connectors>/<name>.toml` and `<mappings>/<name>.toml`. Never overwrites.
pub fn install(
    preset: &Preset,
    name: &str,
    connectors_dir: &Path,
    mappings_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let targets = [
        (
            connectors_dir.join(format!("{name}.toml")),
            preset.connector,
        ),
        (mappings_dir.join(format!("{name}.toml")), preset.mapping),
    ];
    if let Some((existing, _)) = targets.iter().find(|(path, _)| path.exists()) {
        bail!(
            "not overwriting {} (choose another name with --as)",
            existing.display()
        );
    }
    let mut written = Vec::new();
    for (path, text) in targets {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_toml_with_a_type_and_a_mapping_of_its_streams() {
        for preset in PRESETS {
            let connector: toml::Table = preset
                .connector
                .parse()
                .unwrap_or_else(|error| panic!("{}: {error}", preset.id));
            let mapping: toml::Table = preset
                .mapping
                .parse()
                .unwrap_or_else(|error| panic!("{} mapping: {error}", preset.id));
            assert!(connector.contains_key("type"), "{}", preset.id);
            let streams = connector["streams"].as_table().unwrap();
            let mapped = mapping["streams"].as_table().unwrap();
            for (name, stream) in streams {
                let synced = stream.get("sync").and_then(toml::Value::as_bool) != Some(false);
                assert_eq!(
                    synced,
                    mapped.contains_key(name),
                    "{}: stream {name} synced={synced} but mapped={}",
                    preset.id,
                    mapped.contains_key(name)
                );
            }
        }
    }

    #[test]
    fn base_url_and_replacements_are_applied_or_refused() {
        let shopify = find("shopify").unwrap();
        let text =
            with_base_url(shopify.connector, "http://127.0.0.1:9/admin/api/2024-01").unwrap();
        assert!(text.contains("base_url = \"http://127.0.0.1:9/admin/api/2024-01\"\n"));
        assert!(!text.contains("SHOP.myshopify.com"));
        let renamed = customize(&text, &[("${SHOPIFY_ACCESS_TOKEN}", "${T1}")]).unwrap();
        assert!(renamed.contains("value = \"${T1}\""));
        assert!(customize(&text, &[("${NOT_THERE}", "x")]).is_err());
        assert!(with_base_url(find("asterisk").unwrap().connector, "x").is_err());
    }

    #[test]
    fn install_writes_both_files_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let connectors = dir.path().join("connectors");
        let mappings = dir.path().join("mappings");
        let preset = find("zendesk").unwrap();
        let written = install(preset, "helpdesk", &connectors, &mappings).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(
            std::fs::read_to_string(connectors.join("helpdesk.toml")).unwrap(),
            preset.connector
        );
        let again = install(preset, "helpdesk", &connectors, &mappings).unwrap_err();
        assert!(again.to_string().contains("not overwriting"), "{again}");
    }
}
