//! Incremental cursors: reading a record's last-change time in the
//! configured format, and writing `{{ since }}` back in that format.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::config::CursorFormat;

/// The time a cursor value stands for, if it is written in `format`.
pub(super) fn parse(value: &Value, format: CursorFormat) -> Option<DateTime<Utc>> {
    match (format, value) {
        (CursorFormat::UnixSeconds, Value::Number(number)) => {
            DateTime::from_timestamp(number.as_i64()?, 0)
        }
        (CursorFormat::UnixSeconds, Value::String(text)) => {
            DateTime::from_timestamp(text.trim().parse().ok()?, 0)
        }
        (CursorFormat::Rfc3339, Value::String(text)) => DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|time| time.with_timezone(&Utc)),
        (CursorFormat::NaiveUtc, Value::String(text)) => {
            NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc())
        }
        _ => None,
    }
}

/// `time` written in `format`, as the source expects it in a filter.
pub(super) fn format(time: DateTime<Utc>, format: CursorFormat) -> Value {
    match format {
        CursorFormat::UnixSeconds => Value::from(time.timestamp()),
        CursorFormat::Rfc3339 => Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        CursorFormat::NaiveUtc => {
            Value::String(time.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        }
    }
}

/// The start of time in `format`, for a first sync without `start`.
pub(super) fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursor_formats_read_and_write() {
        let time = parse(&json!("2024-05-03T10:11:12-04:00"), CursorFormat::Rfc3339).unwrap();
        assert_eq!(
            format(time, CursorFormat::Rfc3339),
            json!("2024-05-03T14:11:12Z")
        );
        assert_eq!(format(time, CursorFormat::UnixSeconds), json!(1714745472));
        assert_eq!(
            format(time, CursorFormat::NaiveUtc),
            json!("2024-05-03 14:11:12")
        );
        assert_eq!(
            parse(&json!(1714745472), CursorFormat::UnixSeconds),
            Some(time)
        );
        assert_eq!(
            parse(&json!("1714745472"), CursorFormat::UnixSeconds),
            Some(time)
        );
        assert_eq!(
            parse(&json!("2024-05-03 14:11:12"), CursorFormat::NaiveUtc),
            Some(time)
        );
        assert_eq!(parse(&json!(false), CursorFormat::NaiveUtc), None);
        assert_eq!(parse(&json!("yesterday"), CursorFormat::Rfc3339), None);
    }
}
