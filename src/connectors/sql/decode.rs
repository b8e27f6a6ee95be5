//! Turning a database row into a JSON record, column by column, by the
//! type the database reports.
//!
//! Forms: integers and floats as numbers, NUMERIC/DECIMAL as exact text,
//! text as strings, booleans, timestamps as RFC 3339 in UTC (a timestamp
//! without zone is taken as UTC), dates as `YYYY-MM-DD`, JSON as JSON,
//! bytes as lowercase hex (MySQL binary columns holding valid UTF-8 as
//! text), NULL as null. A value that cannot be decoded is
//! reported with its column, never dropped silently.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::{PgRow, PgTypeKind};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// A row as JSON, with the columns that could not be decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedRow {
    /// Every decoded column by name.
    pub object: Map<String, Value>,
    /// Per undecodable column: its name and why.
    pub errors: Vec<(String, String)>,
}

impl DecodedRow {
    fn put(&mut self, column: &str, type_name: &str, result: Result<Value, String>) {
        match result {
            Ok(value) => {
                self.object.insert(column.to_string(), value);
            }
            Err(error) => self
                .errors
                .push((column.to_string(), format!("type {type_name}: {error}"))),
        }
    }
}

fn err(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// An instant in the one form records carry.
pub fn instant_json(instant: DateTime<Utc>) -> Value {
    Value::String(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn date_json(date: NaiveDate) -> Value {
    Value::String(date.format("%Y-%m-%d").to_string())
}

fn time_json(time: NaiveTime) -> Value {
    Value::String(time.format("%H:%M:%S%.f").to_string())
}

/// A float as a JSON number; NaN and infinities, which JSON lacks, as text.
fn float_json(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(value.to_string()))
}

fn bytes_json(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn unsupported(type_name: &str) -> Result<Value, String> {
    Err(format!(
        "tierlink cannot read values of type {type_name}; leave the column out of `columns`"
    ))
}

/// Decodes a PostgreSQL row.
pub fn decode_pg_row(row: &PgRow) -> DecodedRow {
    let mut decoded = DecodedRow::default();
    for (index, column) in row.columns().iter().enumerate() {
        let type_info = column.type_info();
        let type_name = type_info.name();
        let result = match row.try_get_raw(index) {
            Err(error) => Err(err(error)),
            Ok(raw) if raw.is_null() => Ok(Value::Null),
            Ok(raw) => match type_name {
                "BOOL" => row.try_get::<bool, _>(index).map(Value::Bool).map_err(err),
                "INT2" => row.try_get::<i16, _>(index).map(Value::from).map_err(err),
                "INT4" => row.try_get::<i32, _>(index).map(Value::from).map_err(err),
                "INT8" => row.try_get::<i64, _>(index).map(Value::from).map_err(err),
                "OID" => row
                    .try_get::<sqlx::postgres::types::Oid, _>(index)
                    .map(|oid| Value::from(oid.0))
                    .map_err(err),
                "FLOAT4" => row
                    .try_get::<f32, _>(index)
                    .map(|value| float_json(f64::from(value)))
                    .map_err(err),
                "FLOAT8" => row.try_get::<f64, _>(index).map(float_json).map_err(err),
                "NUMERIC" => raw
                    .as_bytes()
                    .map_err(err)
                    .and_then(pg_numeric_text)
                    .map(Value::String),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" | "CHAR"
                | "\"CHAR\"" => row
                    .try_get_unchecked::<String, _>(index)
                    .map(Value::String)
                    .map_err(err),
                "UUID" => raw.as_bytes().map_err(err).and_then(uuid_text),
                "TIMESTAMPTZ" => row
                    .try_get::<DateTime<Utc>, _>(index)
                    .map(instant_json)
                    .map_err(err),
                "TIMESTAMP" => row
                    .try_get::<NaiveDateTime, _>(index)
                    .map(|naive| instant_json(naive.and_utc()))
                    .map_err(err),
                "DATE" => row
                    .try_get::<NaiveDate, _>(index)
                    .map(date_json)
                    .map_err(err),
                "TIME" => row
                    .try_get::<NaiveTime, _>(index)
                    .map(time_json)
                    .map_err(err),
                "JSON" | "JSONB" => row.try_get::<Value, _>(index).map_err(err),
                "BYTEA" => row
                    .try_get::<Vec<u8>, _>(index)
                    .map(|bytes| bytes_json(&bytes))
                    .map_err(err),
                "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" => row
                    .try_get::<Vec<String>, _>(index)
                    .map(Value::from)
                    .map_err(err),
                "INT4[]" => row
                    .try_get::<Vec<i32>, _>(index)
                    .map(Value::from)
                    .map_err(err),
                "INT8[]" => row
                    .try_get::<Vec<i64>, _>(index)
                    .map(Value::from)
                    .map_err(err),
                // An enum's binary form is its label.
                _ if matches!(type_info.kind(), PgTypeKind::Enum(_)) => row
                    .try_get_unchecked::<String, _>(index)
                    .map(Value::String)
                    .map_err(err),
                _ => unsupported(type_name),
            },
        };
        decoded.put(column.name(), type_name, result);
    }
    decoded
}

/// Decodes a MySQL or MariaDB row.
pub fn decode_mysql_row(row: &MySqlRow) -> DecodedRow {
    let mut decoded = DecodedRow::default();
    for (index, column) in row.columns().iter().enumerate() {
        let type_name = column.type_info().name();
        let result = match row.try_get_raw(index) {
            Err(error) => Err(err(error)),
            Ok(raw) if raw.is_null() => Ok(Value::Null),
            Ok(_) => match type_name {
                "BOOLEAN" => row.try_get::<bool, _>(index).map(Value::Bool).map_err(err),
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                    row.try_get::<i64, _>(index).map(Value::from).map_err(err)
                }
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED"
                | "INT UNSIGNED" | "BIGINT UNSIGNED" => {
                    row.try_get::<u64, _>(index).map(Value::from).map_err(err)
                }
                "YEAR" => row
                    .try_get_unchecked::<u16, _>(index)
                    .map(Value::from)
                    .map_err(err),
                "FLOAT" => row
                    .try_get::<f32, _>(index)
                    .map(|value| float_json(f64::from(value)))
                    .map_err(err),
                "DOUBLE" => row.try_get::<f64, _>(index).map(float_json).map_err(err),
                // DECIMAL travels as its exact text.
                "DECIMAL" => row
                    .try_get_unchecked::<String, _>(index)
                    .map(Value::String)
                    .map_err(err),
                "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" => row
                    .try_get_unchecked::<String, _>(index)
                    .map(Value::String)
                    .map_err(err),
                // The session runs in UTC (sqlx sets time_zone='+00:00').
                "TIMESTAMP" => row
                    .try_get::<DateTime<Utc>, _>(index)
                    .map(instant_json)
                    .map_err(err),
                "DATETIME" => row
                    .try_get::<NaiveDateTime, _>(index)
                    .map(|naive| instant_json(naive.and_utc()))
                    .map_err(err),
                "DATE" => row
                    .try_get::<NaiveDate, _>(index)
                    .map(date_json)
                    .map_err(err),
                "TIME" => row
                    .try_get::<NaiveTime, _>(index)
                    .map(time_json)
                    .map_err(err),
                "JSON" => row.try_get::<Value, _>(index).map_err(err),
                // MySQL reports text with a `_bin` collation (and MariaDB's
                // JSON, which is such text) as binary; sqlx does not expose
                // the character set, so valid UTF-8 is read as text.
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => row
                    .try_get_unchecked::<Vec<u8>, _>(index)
                    .map(|bytes| match String::from_utf8(bytes) {
                        Ok(text) => Value::String(text),
                        Err(error) => bytes_json(error.as_bytes()),
                    })
                    .map_err(err),
                "BIT" => row
                    .try_get_unchecked::<Vec<u8>, _>(index)
                    .map(|bytes| bytes_json(&bytes))
                    .map_err(err),
                _ => unsupported(type_name),
            },
        };
        decoded.put(column.name(), type_name, result);
    }
    decoded
}

/// Decodes a SQLite row: by the value's storage class, refined by the
/// column's declared type (BOOLEAN, DATE, DATETIME/TIMESTAMP).
pub fn decode_sqlite_row(row: &SqliteRow) -> DecodedRow {
    let mut decoded = DecodedRow::default();
    for (index, column) in row.columns().iter().enumerate() {
        let declared = column.type_info().name().to_string();
        let result = match row.try_get_raw(index) {
            Err(error) => Err(err(error)),
            Ok(raw) if raw.is_null() => Ok(Value::Null),
            Ok(raw) => {
                let storage = raw.type_info().name().to_string();
                match (declared.as_str(), storage.as_str()) {
                    ("BOOLEAN", "INTEGER") => row
                        .try_get_unchecked::<i64, _>(index)
                        .map(|value| Value::Bool(value != 0))
                        .map_err(err),
                    ("DATETIME", _) => row
                        .try_get_unchecked::<DateTime<Utc>, _>(index)
                        .map(instant_json)
                        .map_err(|error| format!("not a timestamp: {error}")),
                    ("DATE", "TEXT") => row
                        .try_get_unchecked::<NaiveDate, _>(index)
                        .map(date_json)
                        .map_err(|error| format!("not a date: {error}")),
                    (_, "INTEGER") => row
                        .try_get_unchecked::<i64, _>(index)
                        .map(Value::from)
                        .map_err(err),
                    (_, "REAL") => row
                        .try_get_unchecked::<f64, _>(index)
                        .map(float_json)
                        .map_err(err),
                    (_, "TEXT") => row
                        .try_get_unchecked::<String, _>(index)
                        .map(Value::String)
                        .map_err(err),
                    (_, "BLOB") => row
                        .try_get_unchecked::<Vec<u8>, _>(index)
                        .map(|bytes| bytes_json(&bytes))
                        .map_err(err),
                    _ => unsupported(&storage),
                }
            }
        };
        decoded.put(column.name(), &declared, result);
    }
    decoded
}

/// A SQLite value exactly as stored (integer, real or text), for a cursor:
/// binding it back compares equal to the stored value, which a normalized
/// form (e.g. an RFC 3339 timestamp against `2024-05-01 10:00:00` text)
/// would not.
pub fn sqlite_stored_value(row: &SqliteRow, column: &str) -> Result<Value, String> {
    let raw = row.try_get_raw(column).map_err(err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_string();
    match storage.as_str() {
        "INTEGER" => row
            .try_get_unchecked::<i64, _>(column)
            .map(Value::from)
            .map_err(err),
        "REAL" => row
            .try_get_unchecked::<f64, _>(column)
            .map(float_json)
            .map_err(err),
        "TEXT" => row
            .try_get_unchecked::<String, _>(column)
            .map(Value::String)
            .map_err(err),
        other => Err(format!("a {other} value cannot be used for paging")),
    }
}

/// The text of a PostgreSQL NUMERIC in its binary form: exact, with the
/// column's scale (`1234.50` for numeric(12,2)).
pub fn pg_numeric_text(bytes: &[u8]) -> Result<String, String> {
    let read = |at: usize| -> Result<u16, String> {
        bytes
            .get(at..at + 2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .ok_or_else(|| "truncated NUMERIC value".to_string())
    };
    let ndigits = usize::from(read(0)?);
    let weight = i32::from(read(2)? as i16);
    let sign = read(4)?;
    let dscale = usize::from(read(6)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_string()),
        0xD000 => return Ok("Infinity".to_string()),
        0xF000 => return Ok("-Infinity".to_string()),
        other => return Err(format!("unknown NUMERIC sign {other:#x}")),
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|index| read(8 + 2 * index))
        .collect::<Result<_, _>>()?;
    let digit_at = |index: i32| -> u16 {
        usize::try_from(index)
            .ok()
            .and_then(|index| digits.get(index).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 && digits.iter().any(|digit| *digit != 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for position in 0..=weight {
            if position == 0 {
                text.push_str(&digit_at(position).to_string());
            } else {
                text.push_str(&format!("{:04}", digit_at(position)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit_at(position)));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// A PostgreSQL UUID's 16 bytes in the usual hyphenated form.
fn uuid_text(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() != 16 {
        return Err(format!("a UUID has 16 bytes, not {}", bytes.len()));
    }
    let hex = hex::encode(bytes);
    Ok(Value::String(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )))
}
