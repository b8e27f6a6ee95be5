//! Dotted paths into JSON records: `customer.id`, `follow_info.remark_mobiles[0]`.
//!
//! A key that itself contains a dot can be reached only if the record has no
//! nesting under that name; CSV columns are plain keys, so a whole path is
//! first tried as one key.

use serde_json::Value;

/// The value at `path`, if the record has one there.
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(value) = record.as_object().and_then(|object| object.get(path)) {
        return Some(value);
    }
    let mut current = record;
    for segment in path.split('.') {
        let (key, indexes) = split_indexes(segment)?;
        if !key.is_empty() {
            current = current.as_object()?.get(key)?;
        }
        for index in indexes {
            current = current.as_array()?.get(index)?;
        }
    }
    Some(current)
}

/// Every value at `path`: like [`lookup`], but a key applied to a list
/// applies to each of its items, so `follow_info.remark` reads the remark of
/// every member who follows a WeCom contact once its rows are gathered.
pub fn lookup_all<'a>(record: &'a Value, path: &str) -> Vec<&'a Value> {
    if let Some(value) = record.as_object().and_then(|object| object.get(path)) {
        return vec![value];
    }
    let mut current = vec![record];
    for segment in path.split('.') {
        let Some((key, indexes)) = split_indexes(segment) else {
            return Vec::new();
        };
        let mut next = Vec::with_capacity(current.len());
        for value in current {
            let mut found: Vec<&Value> = match (key.is_empty(), value) {
                (true, value) => vec![value],
                (false, Value::Object(object)) => object.get(key).into_iter().collect(),
                (false, Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| item.as_object()?.get(key))
                    .collect(),
                (false, _) => Vec::new(),
            };
            for index in &indexes {
                found = found
                    .into_iter()
                    .filter_map(|value| value.as_array()?.get(*index))
                    .collect();
            }
            next.extend(found);
        }
        current = next;
    }
    current
}

/// The value at `path` as trimmed text; `None` when missing, null, `false`
/// (how Odoo writes "empty"), an empty string, or a list or object.
pub fn lookup_text(record: &Value, path: &str) -> Option<String> {
    lookup(record, path).and_then(scalar_text)
}

/// A scalar JSON value as trimmed, non-empty text.
pub fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.trim().to_string(),
        Value::Number(number) => number.to_string(),
        Value::Bool(true) => "true".to_string(),
        Value::Bool(false) | Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Splits `items[0][2]` into `items` and the indexes `[0, 2]`.
fn split_indexes(segment: &str) -> Option<(&str, Vec<usize>)> {
    let Some(open) = segment.find('[') else {
        return Some((segment, Vec::new()));
    };
    let key = &segment[..open];
    let mut indexes = Vec::new();
    for part in segment[open..].split_terminator(']') {
        indexes.push(part.strip_prefix('[')?.trim().parse().ok()?);
    }
    Some((key, indexes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_keys_and_indexes() {
        let record = json!({
            "customer": {"id": 207119551, "tags": ["a", "b"]},
            "follow_info": {"remark_mobiles": ["138 0013 8000", ""]},
            "odoo_empty": false,
            "column.with.dots": "kept",
            "blank": "  ",
        });
        assert_eq!(
            lookup_text(&record, "customer.id").as_deref(),
            Some("207119551")
        );
        assert_eq!(
            lookup_text(&record, "customer.tags[1]").as_deref(),
            Some("b")
        );
        assert_eq!(
            lookup_text(&record, "follow_info.remark_mobiles[0]").as_deref(),
            Some("138 0013 8000")
        );
        assert_eq!(lookup_text(&record, "follow_info.remark_mobiles[1]"), None);
        assert_eq!(
            lookup_text(&record, "column.with.dots").as_deref(),
            Some("kept")
        );
        assert_eq!(lookup_text(&record, "odoo_empty"), None);
        assert_eq!(lookup_text(&record, "blank"), None);
        assert_eq!(lookup_text(&record, "customer.missing"), None);
        assert_eq!(lookup_text(&record, "customer.tags[9]"), None);
        assert_eq!(lookup_text(&record, "customer.tags[x]"), None);
        // Through a list only lookup_all goes.
        let gathered = json!({"follow_info": [
            {"remark": "李总", "remark_mobiles": ["138 0013 8000"]},
            {"remark": "李婷凯", "remark_mobiles": []},
            {"remark_mobiles": ["139 0000 0000", "021 5555 6666"]},
        ]});
        assert_eq!(lookup(&gathered, "follow_info.remark"), None);
        assert_eq!(
            lookup_all(&gathered, "follow_info.remark"),
            [&json!("李总"), &json!("李婷凯")]
        );
        assert_eq!(
            lookup_all(&gathered, "follow_info.remark_mobiles[0]"),
            [&json!("138 0013 8000"), &json!("139 0000 0000")]
        );
        assert_eq!(
            lookup_all(&gathered, "follow_info[1].remark"),
            [&json!("李婷凯")]
        );
        assert_eq!(lookup_all(&record, "customer.tags"), [&json!(["a", "b"])]);
        assert!(lookup_all(&record, "customer.missing.deeper").is_empty());
        assert!(lookup(&record, "customer.tags").is_some_and(Value::is_array));
    }
}
