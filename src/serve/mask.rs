//! Phones and e-mails masked for callers who may not see them (viewers):
//! every string under a contact-like key is masked, and raw source payloads,
//! whose keys no rule can foresee, are withheld.

use serde_json::Value;

use crate::normalize::email::mask_email;
use crate::normalize::phone::{mask_phone, normalize_phone};

/// Masks `value` in place for a viewer.
pub fn mask_contacts(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if key == "raw" {
                    *inner = Value::Object(Default::default());
                } else if is_contact_key(key) {
                    mask_strings(inner);
                } else {
                    mask_contacts(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_contacts),
        // A blocking key in a link's evidence: `phone:+86...`, `email:...`.
        Value::String(text) => {
            if let Some((kind, contact)) = text.split_once(':') {
                if is_contact_key(kind) {
                    *text = format!("{kind}:{}", mask_one(contact));
                }
            }
        }
        _ => {}
    }
}

/// Keys that hold a phone or an e-mail: `phones`, `mobile`, `email`,
/// `caller` (of a call record) and the like.
fn is_contact_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["tel", "mail", "caller", "callee"].contains(&key.as_str())
        || ["phone", "mobile", "email"]
            .iter()
            .any(|word| key.contains(word))
}

/// Masks the strings of a contact value; in an object (a golden field with
/// its lineage), only its `value`.
fn mask_strings(value: &mut Value) {
    match value {
        Value::String(text) => *text = mask_one(text),
        Value::Array(items) => items.iter_mut().for_each(mask_strings),
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if key == "value" {
                    mask_strings(inner);
                } else {
                    mask_contacts(inner);
                }
            }
        }
        _ => {}
    }
}

fn mask_one(text: &str) -> String {
    if text.contains('@') {
        mask_email(text)
    } else if let Some(phone) = normalize_phone(text) {
        mask_phone(&phone.e164)
    } else {
        "*".repeat(text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contacts_are_masked_and_raw_payloads_withheld() {
        let mut view = json!({
            "fields": {
                "phones": {"value": ["+8613800138000"], "source": {"connector": "erp", "source_id": "C1"}},
                "emails": {"value": ["zhang@example.com"], "source": null},
                "name": {"value": "张伟", "source": null},
            },
            "records": [{
                "party": {"name": "张伟", "phones": ["138 0013 8000", "n/a"], "emails": ["zhang@example.com"]},
                "raw": {"customers": {"mobile": "13800138000", "note": "call 13800138000"}},
            }],
            "calls": [{"caller": "+8613800138000", "talk_seconds": 30}],
            "evidence": {"shared_keys": ["phone:+8613800138000", "email:zhang@example.com", "name:zhangwei"]},
            "telemetry": "kept",
        });
        mask_contacts(&mut view);
        assert_eq!(view["fields"]["phones"]["value"][0], "+86138******00");
        assert_eq!(view["fields"]["phones"]["source"]["connector"], "erp");
        assert_eq!(view["fields"]["emails"]["value"][0], "z***@example.com");
        assert_eq!(view["fields"]["name"]["value"], "张伟");
        assert_eq!(
            view["records"][0]["party"]["phones"],
            json!(["+86138******00", "***"])
        );
        assert_eq!(view["records"][0]["raw"], json!({}));
        assert_eq!(view["calls"][0]["caller"], "+86138******00");
        assert_eq!(view["calls"][0]["talk_seconds"], 30);
        assert_eq!(
            view["evidence"]["shared_keys"],
            json!([
                "phone:+86138******00",
                "email:z***@example.com",
                "name:zhangwei"
            ])
        );
        assert_eq!(view["telemetry"], "kept");
        assert!(!view.to_string().contains("0013"));
    }
}
