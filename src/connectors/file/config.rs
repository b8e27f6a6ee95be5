//! Configuration of one stream of a `file` connector.

use std::path::PathBuf;

use serde::Deserialize;

/// One file that yields one stream of records.
///
/// ```toml
/// [streams.customers]
/// path = "samples/erp/customers.csv"
/// format = "csv"
/// primary_key = "customer_no"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileStreamConfig {
    /// The file to read, relative to the directory of `tierlink.toml`.
    pub path: PathBuf,
    /// How the file is written.
    pub format: FileFormat,
    /// The field that identifies a record in the source: a column name for
    /// CSV, a dotted path such as `customer.id` for JSON; or a list of them
    /// when only their combination is unique (joined with `|`), e.g. a CDR
    /// row's `["channel", "start"]`.
    pub primary_key: PrimaryKey,
    /// The text encoding; Chinese exports are often GBK or GB18030.
    #[serde(default)]
    pub encoding: FileEncoding,
    /// The CSV field separator.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Column names for a CSV file without a header row, in file order.
    pub columns: Option<Vec<String>>,
    /// Trailing columns, after `columns`, that a row may or may not have,
    /// in file order: a row may stop after any of them. Asterisk writes
    /// `uniqueid` and `userfield` only when `loguniqueid`/`loguserfield` are
    /// set, and three more with `newcdrcolumns`.
    #[serde(default)]
    pub optional_columns: Vec<String>,
    /// For `json`: the dotted path to the array of records in the document;
    /// leave out when the document itself is the array.
    pub records_path: Option<String>,
    /// When `path` is a folder: which files in it to read, as a name with
    /// at most one `*` (e.g. `orders-*.csv`). Files are read in name order.
    pub pattern: Option<String>,
    /// Follow a growing file (e.g. Asterisk `Master.csv`): read only what was
    /// appended since the last sync, by byte offset. A file that shrank or
    /// whose beginning changed was rotated and is read from the start. CSV
    /// files followed this way have no header: set `columns`.
    #[serde(default)]
    pub follow: bool,
}

impl FileStreamConfig {
    /// A stream of `path` in `format` keyed by `primary_key`, with every
    /// other setting at its default (UTF-8, comma, header row, whole file).
    pub fn new(
        path: impl Into<PathBuf>,
        format: FileFormat,
        primary_key: &str,
    ) -> FileStreamConfig {
        FileStreamConfig {
            path: path.into(),
            format,
            primary_key: PrimaryKey::One(primary_key.to_string()),
            encoding: FileEncoding::default(),
            delimiter: default_delimiter(),
            columns: None,
            optional_columns: Vec::new(),
            records_path: None,
            pattern: None,
            follow: false,
        }
    }
}

/// What identifies a record: one field, or several whose values together do.
#[derive(Debug, Clone, PartialEq)]
pub enum PrimaryKey {
    One(String),
    Composite(Vec<String>),
}

impl<'de> Deserialize<'de> for PrimaryKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = PrimaryKey;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a field name or a list of field names")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<PrimaryKey, E> {
                Ok(PrimaryKey::One(value.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PrimaryKey, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = seq.next_element::<String>()? {
                    fields.push(field);
                }
                if fields.is_empty() {
                    return Err(serde::de::Error::invalid_length(0, &self));
                }
                Ok(PrimaryKey::Composite(fields))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

impl PrimaryKey {
    /// The fields, in order.
    pub fn fields(&self) -> &[String] {
        match self {
            PrimaryKey::One(field) => std::slice::from_ref(field),
            PrimaryKey::Composite(fields) => fields,
        }
    }
}

fn default_delimiter() -> char {
    ','
}

/// The formats a file connector reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma-separated values, with a header row unless `columns` is set.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One JSON document holding an array of records.
    Json,
}

/// Text encodings a file connector decodes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum FileEncoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "gbk")]
    Gbk,
    #[serde(rename = "gb18030")]
    Gb18030,
}
