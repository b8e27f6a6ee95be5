//! Problems found while loading configuration, collected rather than thrown,
//! so `tierlink validate` can report every problem in every file at once.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One thing wrong with one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The field, as a dotted path (`streams.customers.path`); empty when the
    /// problem concerns the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem with a field of a file.
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint telling the user what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    pub fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.0.extend(problems);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            writeln!(f, "{problem}")?;
        }
        write!(
            f,
            "{} problem{} found",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Problems {}

/// Deserializes one section of a TOML file, naming the exact field that is
/// wrong. `prefix` is the section's own path in the file (`streams.orders`),
/// so the reported field is the full dotted path.
pub fn deserialize_section<T: DeserializeOwned>(
    file: &Path,
    prefix: &str,
    value: toml::Value,
) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let inner = error.path().to_string();
        let field = join_field(prefix, if inner == "." { "" } else { &inner });
        // The TOML deserializer appends "in `field`" lines; the field is
        // already named, so keep the first line.
        let message = error.into_inner().to_string();
        let message = message.lines().next().unwrap_or_default().to_string();
        let hint = hint_for_serde_message(&message);
        let problem = Problem::new(file, field, message);
        match hint {
            Some(hint) => problem.with_hint(hint),
            None => problem,
        }
    })
}

/// The candidate closest to a misspelt name, if one is close enough to be
/// what the user meant.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Joins a section prefix and a field path into one dotted path.
pub fn join_field(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// serde's messages already list the expected choices for unknown fields and
/// variants; these hints add the step the user should take.
fn hint_for_serde_message(message: &str) -> Option<&'static str> {
    if message.starts_with("unknown field") {
        Some("remove the field or fix its spelling")
    } else if message.starts_with("unknown variant") {
        Some("use one of the listed values")
    } else if message.starts_with("missing field") {
        Some("add the field")
    } else if message.starts_with("invalid type") {
        Some("check the value's type (quoted text, number, list or table)")
    } else {
        None
    }
}

/// Reads and parses a TOML file into a table, or explains why it cannot.
/// TOML syntax errors carry their own line and column.
pub fn read_toml_table(file: &Path) -> Result<toml::Table, Problem> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| Problem::new(file, "", format!("cannot read the file: {error}")))?;
    text.parse::<toml::Table>().map_err(|error| {
        Problem::new(
            file,
            "",
            format!("not valid TOML: {}", error.to_string().trim()),
        )
        .with_hint("fix the syntax at the line and column shown")
    })
}
