//! Turning a database row into a JSON record, column by column, by the
//! type the database reports.
//!
//! Forms: integers and floats as numbers, NUMERIC/DECIMAL as exact text,
//! text as strings, booleans, timestamps as RFC 3339 in UTC (a timestamp
//! without zone is taken as UTC), dates as `YYYY-MM-DD`, JSON as JSON,
//! bytes as lowercase hex (MySQL binary columns holding valid UTF-8 as
//! text), NULL as null. A value that cannot be decoded is
//! reported with its column, never dropped silently.

use std::fmt::Write as _;

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

/// How one PostgreSQL column is decoded, chosen once per query from the
/// type the database reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgDecoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Uuid,
    Timestamptz,
    Timestamp,
    Date,
    Time,
    Json,
    Bytea,
    TextArray,
    Int4Array,
    Int8Array,
    Unsupported,
}

impl PgDecoder {
    fn for_type(type_info: &sqlx::postgres::PgTypeInfo) -> PgDecoder {
        match type_info.name() {
            "BOOL" => PgDecoder::Bool,
            "INT2" => PgDecoder::Int2,
            "INT4" => PgDecoder::Int4,
            "INT8" => PgDecoder::Int8,
            "OID" => PgDecoder::Oid,
            "FLOAT4" => PgDecoder::Float4,
            "FLOAT8" => PgDecoder::Float8,
            "NUMERIC" => PgDecoder::Numeric,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" | "CHAR" | "\"CHAR\"" => {
                PgDecoder::Text
            }
            "UUID" => PgDecoder::Uuid,
            "TIMESTAMPTZ" => PgDecoder::Timestamptz,
            "TIMESTAMP" => PgDecoder::Timestamp,
            "DATE" => PgDecoder::Date,
            "TIME" => PgDecoder::Time,
            "JSON" | "JSONB" => PgDecoder::Json,
            "BYTEA" => PgDecoder::Bytea,
            "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" => PgDecoder::TextArray,
            "INT4[]" => PgDecoder::Int4Array,
            "INT8[]" => PgDecoder::Int8Array,
            // An enum's binary form is its label.
            _ if matches!(type_info.kind(), PgTypeKind::Enum(_)) => PgDecoder::Text,
            _ => PgDecoder::Unsupported,
        }
    }
}

/// The decoders for the columns of one PostgreSQL result, made once from
/// its first row and used for every row.
pub struct PgRowDecoder {
    columns: Vec<(String, String, PgDecoder)>,
}

impl PgRowDecoder {
    /// The decoders for rows shaped like `row`.
    pub fn new(row: &PgRow) -> PgRowDecoder {
        PgRowDecoder {
            columns: row
                .columns()
                .iter()
                .map(|column| {
                    let type_info = column.type_info();
                    (
                        column.name().to_string(),
                        type_info.name().to_string(),
                        PgDecoder::for_type(type_info),
                    )
                })
                .collect(),
        }
    }

    /// Decodes a row of the result the decoders were made for.
    pub fn decode(&self, row: &PgRow) -> DecodedRow {
        let mut decoded = DecodedRow::default();
        for (index, (name, type_name, decoder)) in self.columns.iter().enumerate() {
            let result = match row.try_get_raw(index) {
                Err(error) => Err(err(error)),
                Ok(raw) if raw.is_null() => Ok(Value::Null),
                Ok(raw) => match decoder {
                    PgDecoder::Bool => row.try_get::<bool, _>(index).map(Value::Bool).map_err(err),
                    PgDecoder::Int2 => row.try_get::<i16, _>(index).map(Value::from).map_err(err),
                    PgDecoder::Int4 => row.try_get::<i32, _>(index).map(Value::from).map_err(err),
                    PgDecoder::Int8 => row.try_get::<i64, _>(index).map(Value::from).map_err(err),
                    PgDecoder::Oid => row
                        .try_get::<sqlx::postgres::types::Oid, _>(index)
                        .map(|oid| Value::from(oid.0))
                        .map_err(err),
                    PgDecoder::Float4 => row
                        .try_get::<f32, _>(index)
                        .map(|value| float_json(f64::from(value)))
                        .map_err(err),
                    PgDecoder::Float8 => row.try_get::<f64, _>(index).map(float_json).map_err(err),
                    PgDecoder::Numeric => raw
                        .as_bytes()
                        .map_err(err)
                        .and_then(pg_numeric_text)
                        .map(Value::String),
                    PgDecoder::Text => row
                        .try_get_unchecked::<String, _>(index)
                        .map(Value::String)
                        .map_err(err),
                    PgDecoder::Uuid => raw.as_bytes().map_err(err).and_then(uuid_text),
                    PgDecoder::Timestamptz => row
                        .try_get::<DateTime<Utc>, _>(index)
                        .map(instant_json)
                        .map_err(err),
                    PgDecoder::Timestamp => row
                        .try_get::<NaiveDateTime, _>(index)
                        .map(|naive| instant_json(naive.and_utc()))
                        .map_err(err),
                    PgDecoder::Date => row
                        .try_get::<NaiveDate, _>(index)
                        .map(date_json)
                        .map_err(err),
                    PgDecoder::Time => row
                        .try_get::<NaiveTime, _>(index)
                        .map(time_json)
                        .map_err(err),
                    PgDecoder::Json => row.try_get::<Value, _>(index).map_err(err),
                    PgDecoder::Bytea => row
                        .try_get::<Vec<u8>, _>(index)
                        .map(|bytes| bytes_json(&bytes))
                        .map_err(err),
                    PgDecoder::TextArray => row
                        .try_get::<Vec<String>, _>(index)
                        .map(Value::from)
                        .map_err(err),
                    PgDecoder::Int4Array => row
                        .try_get::<Vec<i32>, _>(index)
                        .map(Value::from)
                        .map_err(err),
                    PgDecoder::Int8Array => row
                        .try_get::<Vec<i64>, _>(index)
                        .map(Value::from)
                        .map_err(err),
                    PgDecoder::Unsupported => unsupported(type_name),
                },
            };
            decoded.put(name, type_name, result);
        }
        decoded
    }
}

/// How one MySQL or MariaDB column is decoded, chosen once per query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MySqlDecoder {
    Bool,
    Signed,
    Unsigned,
    Year,
    Float,
    Double,
    /// DECIMAL travels as its exact text.
    Decimal,
    Text,
    Timestamp,
    Datetime,
    Date,
    Time,
    Json,
    Binary,
    Bit,
    Unsupported,
}

impl MySqlDecoder {
    fn for_type(type_name: &str) -> MySqlDecoder {
        match type_name {
            "BOOLEAN" => MySqlDecoder::Bool,
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => MySqlDecoder::Signed,
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
            | "BIGINT UNSIGNED" => MySqlDecoder::Unsigned,
            "YEAR" => MySqlDecoder::Year,
            "FLOAT" => MySqlDecoder::Float,
            "DOUBLE" => MySqlDecoder::Double,
            "DECIMAL" => MySqlDecoder::Decimal,
            "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
            | "SET" => MySqlDecoder::Text,
            "TIMESTAMP" => MySqlDecoder::Timestamp,
            "DATETIME" => MySqlDecoder::Datetime,
            "DATE" => MySqlDecoder::Date,
            "TIME" => MySqlDecoder::Time,
            "JSON" => MySqlDecoder::Json,
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                MySqlDecoder::Binary
            }
            "BIT" => MySqlDecoder::Bit,
            _ => MySqlDecoder::Unsupported,
        }
    }
}

/// The decoders for the columns of one MySQL or MariaDB result, made once
/// from its first row and used for every row.
pub struct MySqlRowDecoder {
    columns: Vec<(String, String, MySqlDecoder)>,
}

impl MySqlRowDecoder {
    /// The decoders for rows shaped like `row`.
    pub fn new(row: &MySqlRow) -> MySqlRowDecoder {
        MySqlRowDecoder {
            columns: row
                .columns()
                .iter()
                .map(|column| {
                    let type_name = column.type_info().name();
                    (
                        column.name().to_string(),
                        type_name.to_string(),
                        MySqlDecoder::for_type(type_name),
                    )
                })
                .collect(),
        }
    }

    /// Decodes a row of the result the decoders were made for.
    pub fn decode(&self, row: &MySqlRow) -> DecodedRow {
        let mut decoded = DecodedRow::default();
        for (index, (name, type_name, decoder)) in self.columns.iter().enumerate() {
            let result = match row.try_get_raw(index) {
                Err(error) => Err(err(error)),
                Ok(raw) if raw.is_null() => Ok(Value::Null),
                Ok(_) => match decoder {
                    MySqlDecoder::Bool => {
                        row.try_get::<bool, _>(index).map(Value::Bool).map_err(err)
                    }
                    MySqlDecoder::Signed => {
                        row.try_get::<i64, _>(index).map(Value::from).map_err(err)
                    }
                    MySqlDecoder::Unsigned => {
                        row.try_get::<u64, _>(index).map(Value::from).map_err(err)
                    }
                    MySqlDecoder::Year => row
                        .try_get_unchecked::<u16, _>(index)
                        .map(Value::from)
                        .map_err(err),
                    MySqlDecoder::Float => row
                        .try_get::<f32, _>(index)
                        .map(|value| float_json(f64::from(value)))
                        .map_err(err),
                    MySqlDecoder::Double => {
                        row.try_get::<f64, _>(index).map(float_json).map_err(err)
                    }
                    MySqlDecoder::Decimal | MySqlDecoder::Text => row
                        .try_get_unchecked::<String, _>(index)
                        .map(Value::String)
                        .map_err(err),
                    // The session runs in UTC (sqlx sets time_zone='+00:00').
                    MySqlDecoder::Timestamp => row
                        .try_get::<DateTime<Utc>, _>(index)
                        .map(instant_json)
                        .map_err(err),
                    MySqlDecoder::Datetime => row
                        .try_get::<NaiveDateTime, _>(index)
                        .map(|naive| instant_json(naive.and_utc()))
                        .map_err(err),
                    MySqlDecoder::Date => row
                        .try_get::<NaiveDate, _>(index)
                        .map(date_json)
                        .map_err(err),
                    MySqlDecoder::Time => row
                        .try_get::<NaiveTime, _>(index)
                        .map(time_json)
                        .map_err(err),
                    MySqlDecoder::Json => row.try_get::<Value, _>(index).map_err(err),
                    // MySQL reports text with a `_bin` collation (and
                    // MariaDB's JSON, which is such text) as binary; sqlx
                    // does not expose the character set, so valid UTF-8 is
                    // read as text.
                    MySqlDecoder::Binary => row
                        .try_get_unchecked::<Vec<u8>, _>(index)
                        .map(|bytes| match String::from_utf8(bytes) {
                            Ok(text) => Value::String(text),
                            Err(error) => bytes_json(error.as_bytes()),
                        })
                        .map_err(err),
                    MySqlDecoder::Bit => row
                        .try_get_unchecked::<Vec<u8>, _>(index)
                        .map(|bytes| bytes_json(&bytes))
                        .map_err(err),
                    MySqlDecoder::Unsupported => unsupported(type_name),
                },
            };
            decoded.put(name, type_name, result);
        }
        decoded
    }
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
    // Writing to a String cannot fail.
    let mut text = String::with_capacity(4 * (ndigits + 1) + dscale + 2);
    if sign == 0x4000 && digits.iter().any(|digit| *digit != 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        let _ = write!(text, "{}", digit_at(0));
        for position in 1..=weight {
            let _ = write!(text, "{:04}", digit_at(position));
        }
    }
    if dscale > 0 {
        text.push('.');
        let fraction_start = text.len();
        let mut position = weight + 1;
        while text.len() - fraction_start < dscale {
            let _ = write!(text, "{:04}", digit_at(position));
            position += 1;
        }
        text.truncate(fraction_start + dscale);
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
