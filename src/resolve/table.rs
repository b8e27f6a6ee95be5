//! The record table the engine works on: one row per record (a dense `u32`
//! id), one column per declared field, every string interned once.
//!
//! Interning makes equality a comparison of two integers and keeps a million
//! records with a dozen fields in a few hundred megabytes: each distinct
//! string is stored once, in one buffer.

use std::collections::HashMap;

use super::config::{FieldKind, FieldSpec};

/// Id of an interned string; [`MISSING`] means "no value".
pub type StringId = u32;

/// The string id of an empty value.
pub const MISSING: StringId = u32::MAX;

/// A calendar date, kept both as a day number and as its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Days since 1970-01-01 (negative before).
    pub day_number: i32,
    /// Year.
    pub year: i32,
    /// Month 1..=12.
    pub month: u8,
    /// Day of month 1..=31.
    pub day: u8,
}

impl Date {
    /// Reads `YYYYMMDD` or `YYYY-MM-DD`; `None` when it is not a real date.
    pub fn parse(text: &str) -> Option<Date> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = digits[..4].parse().ok()?;
        let month: u32 = digits[4..6].parse().ok()?;
        let day: u32 = digits[6..].parse().ok()?;
        let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
        Some(Date {
            day_number: i32::try_from((date - epoch).num_days()).ok()?,
            year,
            month: month as u8,
            day: day as u8,
        })
    }
}

/// The values of one column.
#[derive(Debug, Clone)]
pub enum Column {
    /// One string id per record.
    Text(Vec<StringId>),
    /// A sorted, duplicate-free set of string ids per record: record `r`
    /// holds `values[offsets[r]..offsets[r + 1]]`.
    Set {
        /// Start of each record's elements, plus one final end.
        offsets: Vec<u32>,
        /// Elements of all records, back to back.
        values: Vec<StringId>,
    },
    /// The date's text (for string levels) and, when valid, the date itself.
    Date {
        /// String id per record.
        text: Vec<StringId>,
        /// Parsed date per record.
        dates: Vec<Option<Date>>,
    },
}

/// A field value handed to [`TableBuilder::push`].
#[derive(Debug, Clone, Copy)]
pub enum FieldValue<'a> {
    /// No value.
    Missing,
    /// One string (for text and date fields; a set field takes it as a
    /// one-element set).
    Text(&'a str),
    /// Several strings (set fields only).
    Many(&'a [&'a str]),
}

/// A value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The record has the wrong number of values.
    #[error("record {record}: {got} values for {expected} fields")]
    WrongArity {
        /// Record index.
        record: usize,
        /// Values given.
        got: usize,
        /// Fields declared.
        expected: usize,
    },
    /// Several values for a field that holds one.
    #[error("record {record}, field `{field}`: several values for a single-valued field")]
    NotASet {
        /// Record index.
        record: usize,
        /// Field name.
        field: String,
    },
    /// More records than `u32` ids.
    #[error("more than {} records", u32::MAX - 1)]
    TooManyRecords,
}

/// Builds a [`RecordTable`] record by record; the table built so far can
/// be read at any time ([`TableBuilder::table`]), so a table can keep
/// growing while it is used.
pub struct TableBuilder {
    kinds: Vec<FieldKind>,
    interner: HashMap<Box<str>, StringId>,
    table: RecordTable,
}

impl TableBuilder {
    /// An empty table with one column per field, in the given order.
    pub fn new(fields: &[FieldSpec]) -> TableBuilder {
        let columns = fields
            .iter()
            .map(|field| match field.kind {
                FieldKind::Text => Column::Text(Vec::new()),
                FieldKind::Set => Column::Set {
                    offsets: vec![0],
                    values: Vec::new(),
                },
                FieldKind::Date => Column::Date {
                    text: Vec::new(),
                    dates: Vec::new(),
                },
            })
            .collect();
        TableBuilder {
            kinds: fields.iter().map(|field| field.kind).collect(),
            interner: HashMap::new(),
            table: RecordTable {
                names: fields.iter().map(|field| field.name.clone()).collect(),
                columns,
                text: String::new(),
                spans: Vec::new(),
                len: 0,
            },
        }
    }

    fn intern(&mut self, value: &str) -> StringId {
        let value = value.trim();
        if value.is_empty() {
            return MISSING;
        }
        if let Some(&id) = self.interner.get(value) {
            return id;
        }
        let table = &mut self.table;
        let id = table.spans.len() as StringId;
        let start = table.text.len() as u32;
        table.text.push_str(value);
        table.spans.push((start, table.text.len() as u32));
        self.interner.insert(value.into(), id);
        id
    }

    /// Adds a record (one value per field, in field order) and returns its id.
    /// Values are trimmed; an empty string is a missing value.
    pub fn push(&mut self, values: &[FieldValue<'_>]) -> Result<u32, TableError> {
        let record = self.table.len;
        if values.len() != self.table.columns.len() {
            return Err(TableError::WrongArity {
                record,
                got: values.len(),
                expected: self.table.columns.len(),
            });
        }
        if record >= (u32::MAX - 1) as usize {
            return Err(TableError::TooManyRecords);
        }
        for (index, value) in values.iter().enumerate() {
            if matches!(value, FieldValue::Many(_)) && self.kinds[index] != FieldKind::Set {
                return Err(TableError::NotASet {
                    record,
                    field: self.table.names[index].clone(),
                });
            }
        }
        for (index, value) in values.iter().enumerate() {
            let ids: Vec<StringId> = match value {
                FieldValue::Missing => Vec::new(),
                FieldValue::Text(text) => vec![self.intern(text)],
                FieldValue::Many(texts) => texts.iter().map(|text| self.intern(text)).collect(),
            };
            let first = ids.first().copied().unwrap_or(MISSING);
            let date = (self.kinds[index] == FieldKind::Date && first != MISSING)
                .then(|| Date::parse(self.table.string(first)))
                .flatten();
            match &mut self.table.columns[index] {
                Column::Text(column) => column.push(first),
                Column::Date { text, dates } => {
                    text.push(first);
                    dates.push(date);
                }
                Column::Set { offsets, values } => {
                    let mut ids = ids;
                    ids.retain(|&id| id != MISSING);
                    ids.sort_unstable();
                    ids.dedup();
                    values.extend_from_slice(&ids);
                    offsets.push(values.len() as u32);
                }
            }
        }
        self.table.len += 1;
        Ok(record as u32)
    }

    /// The table as built so far.
    pub fn table(&self) -> &RecordTable {
        &self.table
    }

    /// The finished table; the look-up map used while building is dropped.
    pub fn finish(self) -> RecordTable {
        self.table
    }
}

/// Records as interned columns; see the module docs.
#[derive(Debug, Clone)]
pub struct RecordTable {
    names: Vec<String>,
    columns: Vec<Column>,
    text: String,
    spans: Vec<(u32, u32)>,
    len: usize,
}

impl RecordTable {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Field names in column order.
    pub fn field_names(&self) -> &[String] {
        &self.names
    }

    /// Column of field `field`.
    pub fn column(&self, field: usize) -> &Column {
        &self.columns[field]
    }

    /// The text of an interned string (empty for [`MISSING`]).
    pub fn string(&self, id: StringId) -> &str {
        if id == MISSING {
            return "";
        }
        let (start, end) = self.spans[id as usize];
        &self.text[start as usize..end as usize]
    }

    /// The string ids record `record` holds in field `field`: none, one, or
    /// (for a set field) several.
    pub fn ids(&self, field: usize, record: u32) -> &[StringId] {
        let record = record as usize;
        fn single(column: &[StringId], record: usize) -> &[StringId] {
            let id = &column[record..record + 1];
            if id[0] == MISSING {
                &[]
            } else {
                id
            }
        }
        match &self.columns[field] {
            Column::Text(column) => single(column, record),
            Column::Date { text, .. } => single(text, record),
            Column::Set { offsets, values } => {
                &values[offsets[record] as usize..offsets[record + 1] as usize]
            }
        }
    }

    /// Bytes held by the table's columns and strings (for capacity planning).
    pub fn heap_bytes(&self) -> usize {
        let columns: usize = self
            .columns
            .iter()
            .map(|column| match column {
                Column::Text(ids) => ids.len() * 4,
                Column::Set { offsets, values } => (offsets.len() + values.len()) * 4,
                Column::Date { text, dates } => text.len() * 4 + dates.len() * 12,
            })
            .sum();
        columns + self.text.len() + self.spans.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::config::FieldSpec;

    fn spec(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            levels: Vec::new(),
        }
    }

    #[test]
    fn values_are_interned_trimmed_and_empty_means_missing() {
        let fields = [
            spec("name", FieldKind::Text),
            spec("phones", FieldKind::Set),
            spec("born", FieldKind::Date),
        ];
        let mut builder = TableBuilder::new(&fields);
        let phones = ["138", " 139", "138", ""];
        builder
            .push(&[
                FieldValue::Text(" wei "),
                FieldValue::Many(&phones),
                FieldValue::Text("1990-02-03"),
            ])
            .unwrap();
        builder
            .push(&[
                FieldValue::Text("wei"),
                FieldValue::Missing,
                FieldValue::Text("19903002"),
            ])
            .unwrap();
        builder
            .push(&[
                FieldValue::Text("  "),
                FieldValue::Text("139"),
                FieldValue::Missing,
            ])
            .unwrap();
        let table = builder.finish();
        assert_eq!(table.len(), 3);
        assert_eq!(table.ids(0, 0), table.ids(0, 1));
        assert_eq!(table.string(table.ids(0, 0)[0]), "wei");
        assert!(table.ids(0, 2).is_empty());
        let phones: Vec<&str> = table.ids(1, 0).iter().map(|&id| table.string(id)).collect();
        assert_eq!(phones.len(), 2);
        assert!(phones.contains(&"138") && phones.contains(&"139"));
        assert!(table.ids(1, 1).is_empty());
        let Column::Date { dates, .. } = table.column(2) else {
            panic!("date column")
        };
        assert_eq!(
            dates[0].map(|d| (d.year, d.month, d.day)),
            Some((1990, 2, 3))
        );
        // Not a calendar date: kept as text only.
        assert_eq!(dates[1], None);
        assert_eq!(table.string(table.ids(2, 1)[0]), "19903002");
    }

    #[test]
    fn a_value_that_does_not_fit_its_field_is_an_error_naming_it() {
        let mut builder = TableBuilder::new(&[spec("name", FieldKind::Text)]);
        let many = ["a", "b"];
        let error = builder.push(&[FieldValue::Many(&many)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record 0, field `name`: several values for a single-valued field"
        );
        let error = builder.push(&[]).unwrap_err();
        assert_eq!(error.to_string(), "record 0: 0 values for 1 fields");
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(Date::parse("19700102").unwrap().day_number, 1);
        assert_eq!(Date::parse("1969-12-31").unwrap().day_number, -1);
        assert_eq!(Date::parse("20240230"), None);
        assert_eq!(Date::parse("2024023"), None);
    }
}
