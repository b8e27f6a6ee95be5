//! XML-RPC for the Odoo simulator, the protocol of Odoo's documented
//! external API (`/xmlrpc/2/common`, `/xmlrpc/2/object`; Python's
//! `xmlrpc.client` is the reference client). Calls are decoded into JSON
//! values and run by the same model layer as JSON-RPC; answers and faults
//! are encoded as Odoo encodes them (`allow_none`, fault codes 1 to 4).
//!
//! The reader covers the XML-RPC grammar only: elements without attributes,
//! character references and the five predefined entities.

use serde_json::{Map, Number, Value};

use super::orm::OdooError;

/// A decoded `methodCall`: the method name and its parameters.
#[derive(Debug, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

/// Decodes a `methodCall` document; the error says what is malformed.
pub fn parse_call(document: &str) -> Result<MethodCall, String> {
    let mut reader = Reader {
        text: document,
        position: 0,
    };
    reader.skip_prolog();
    reader.open("methodCall")?;
    reader.open("methodName")?;
    let method = reader.text()?;
    reader.close("methodName")?;
    let mut params = Vec::new();
    match reader.next_tag()? {
        Tag::Open(name) if name == "params" => {
            while let Tag::Open(name) = reader.next_tag()? {
                if name != "param" {
                    return Err(format!("expected <param>, found <{name}>"));
                }
                reader.open("value")?;
                params.push(reader.value_body()?);
                reader.close("param")?;
            }
            reader.expect_closed("params")?;
            reader.close("methodCall")?;
        }
        Tag::Empty(name) if name == "params" => reader.close("methodCall")?,
        Tag::Close(name) if name == "methodCall" => {}
        other => return Err(format!("expected <params>, found {other:?}")),
    }
    Ok(MethodCall { method, params })
}

/// A `methodResponse` carrying `value`.
pub fn response(value: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    encode(value, &mut out);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `methodResponse` fault as Odoo's `xmlrpc_handle_exception_int`
/// builds it: access errors 4, access denied 3, user errors 2 (with the
/// message), anything else 1 (with the traceback).
pub fn fault(error: &OdooError) -> String {
    let user_errors = [
        "odoo.exceptions.UserError",
        "odoo.exceptions.ValidationError",
        "odoo.exceptions.MissingError",
        "odoo.exceptions.RedirectWarning",
    ];
    let (code, text) = match error.name.as_str() {
        "odoo.exceptions.AccessError" => (4, error.message.clone()),
        "odoo.exceptions.AccessDenied" => (3, error.message.clone()),
        name if user_errors.contains(&name) => (2, error.message.clone()),
        name => {
            let exception = name.strip_prefix("builtins.").unwrap_or(name);
            (
                1,
                format!(
                    "Traceback (most recent call last):\n  File \
                     \"/usr/lib/python3/dist-packages/odoo/http.py\", line 2156, in \
                     _serve_nodb\n{exception}: {}\n",
                    error.message
                ),
            )
        }
    };
    let mut members = Map::new();
    members.insert("faultCode".into(), Value::from(code));
    members.insert("faultString".into(), Value::from(text));
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    encode(&Value::Object(members), &mut out);
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

fn encode(value: &Value, out: &mut String) {
    out.push_str("<value>");
    match value {
        Value::Null => out.push_str("<nil/>"),
        Value::Bool(flag) => out.push_str(if *flag {
            "<boolean>1</boolean>"
        } else {
            "<boolean>0</boolean>"
        }),
        Value::Number(number) => match number.as_i64() {
            Some(int) if i32::try_from(int).is_ok() => out.push_str(&format!("<int>{int}</int>")),
            Some(int) => out.push_str(&format!("<i8>{int}</i8>")),
            None => out.push_str(&format!(
                "<double>{}</double>",
                number.as_f64().unwrap_or(0.0)
            )),
        },
        Value::String(text) => {
            out.push_str("<string>");
            escape(text, out);
            out.push_str("</string>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                encode(item, out);
                out.push('\n');
            }
            out.push_str("</data></array>");
        }
        Value::Object(members) => {
            out.push_str("<struct>\n");
            for (name, member) in members {
                out.push_str("<member>\n<name>");
                escape(name, out);
                out.push_str("</name>\n");
                encode(member, out);
                out.push_str("\n</member>\n");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

/// A tag as read: `<name>`, `</name>` or `<name/>`.
#[derive(Debug, PartialEq)]
enum Tag {
    Open(String),
    Close(String),
    Empty(String),
}

struct Reader<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.position += rest.len() - rest.trim_start().len();
    }

    /// Skips the XML declaration and comments.
    fn skip_prolog(&mut self) {
        loop {
            self.skip_whitespace();
            let end = if self.rest().starts_with("<?") {
                self.rest().find("?>").map(|end| end + 2)
            } else if self.rest().starts_with("<!--") {
                self.rest().find("-->").map(|end| end + 3)
            } else {
                None
            };
            match end {
                Some(end) => self.position += end,
                None => return,
            }
        }
    }

    fn next_tag(&mut self) -> Result<Tag, String> {
        self.skip_prolog();
        if !self.rest().starts_with('<') {
            return Err(format!(
                "expected a tag at byte {}, found {:?}",
                self.position,
                self.rest().chars().take(20).collect::<String>()
            ));
        }
        let end = self
            .rest()
            .find('>')
            .ok_or_else(|| format!("unclosed tag at byte {}", self.position))?;
        let inner = &self.rest()[1..end];
        self.position += end + 1;
        Ok(if let Some(name) = inner.strip_prefix('/') {
            Tag::Close(name.trim().to_string())
        } else if let Some(name) = inner.strip_suffix('/') {
            Tag::Empty(name.trim().to_string())
        } else {
            Tag::Open(inner.trim().to_string())
        })
    }

    fn open(&mut self, name: &str) -> Result<(), String> {
        match self.next_tag()? {
            Tag::Open(found) if found == name => Ok(()),
            other => Err(format!("expected <{name}>, found {other:?}")),
        }
    }

    fn close(&mut self, name: &str) -> Result<(), String> {
        match self.next_tag()? {
            Tag::Close(found) if found == name => Ok(()),
            other => Err(format!("expected </{name}>, found {other:?}")),
        }
    }

    /// After a loop that stopped on a closing tag: it must be `name`'s.
    fn expect_closed(&mut self, name: &str) -> Result<(), String> {
        let before = self.text[..self.position].trim_end();
        if before.ends_with(&format!("</{name}>")) {
            Ok(())
        } else {
            Err(format!("expected </{name}>"))
        }
    }

    /// Character data up to the next tag, with entities decoded.
    fn text(&mut self) -> Result<String, String> {
        let end = self.rest().find('<').unwrap_or(self.rest().len());
        let raw = &self.rest()[..end];
        self.position += end;
        decode_entities(raw)
    }

    /// The inside of a `<value>` whose opening tag was read, through its
    /// closing tag. Untyped text is a string.
    fn value_body(&mut self) -> Result<Value, String> {
        let start = self.position;
        let text = self.text()?;
        let tag = self.next_tag()?;
        let value = match tag {
            Tag::Close(name) if name == "value" => return Ok(Value::String(text)),
            Tag::Empty(name) => match name.as_str() {
                "nil" => Value::Null,
                "string" => Value::String(String::new()),
                "array" => Value::Array(Vec::new()),
                "struct" => Value::Object(Map::new()),
                other => return Err(format!("empty <{other}/> is not an XML-RPC value")),
            },
            Tag::Open(kind) => {
                if !text.trim().is_empty() {
                    return Err(format!("text before <{kind}> at byte {start}"));
                }
                self.typed(&kind)?
            }
            Tag::Close(other) => return Err(format!("unexpected </{other}> in <value>")),
        };
        self.close("value")?;
        Ok(value)
    }

    fn typed(&mut self, kind: &str) -> Result<Value, String> {
        let value = match kind {
            "int" | "i4" | "i8" => {
                let text = self.text()?;
                let number: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("<{kind}> holds {text:?}, not an integer"))?;
                Value::from(number)
            }
            "boolean" => match self.text()?.trim() {
                "1" => Value::Bool(true),
                "0" => Value::Bool(false),
                other => return Err(format!("<boolean> holds {other:?}")),
            },
            "double" => {
                let text = self.text()?;
                let number: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("<double> holds {text:?}"))?;
                Number::from_f64(number)
                    .map(Value::Number)
                    .ok_or_else(|| format!("<double> holds {text:?}"))?
            }
            "string" | "dateTime.iso8601" | "base64" => Value::String(self.text()?),
            "nil" => Value::Null,
            "array" => {
                self.open("data")?;
                let mut items = Vec::new();
                loop {
                    match self.next_tag()? {
                        Tag::Open(name) if name == "value" => items.push(self.value_body()?),
                        Tag::Close(name) if name == "data" => break,
                        other => {
                            return Err(format!("expected <value> in <data>, found {other:?}"))
                        }
                    }
                }
                Value::Array(items)
            }
            "struct" => {
                let mut members = Map::new();
                loop {
                    match self.next_tag()? {
                        Tag::Open(name) if name == "member" => {
                            self.open("name")?;
                            let key = self.text()?;
                            self.close("name")?;
                            self.open("value")?;
                            members.insert(key, self.value_body()?);
                            self.close("member")?;
                        }
                        Tag::Close(name) if name == "struct" => return Ok(Value::Object(members)),
                        other => return Err(format!("expected <member>, found {other:?}")),
                    }
                }
            }
            other => return Err(format!("<{other}> is not an XML-RPC type")),
        };
        self.close(kind)?;
        Ok(value)
    }
}

fn decode_entities(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in {raw:?}"))?;
        let entity = &rest[start + 1..start + end];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            numeric => {
                let code = if let Some(hex) = numeric.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    numeric
                        .strip_prefix('#')
                        .and_then(|decimal| decimal.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(decoded);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_as_python_xmlrpc_client_writes_them_decode() {
        let document = "<?xml version='1.0'?>\n<methodCall>\n<methodName>execute_kw</methodName>\n\
            <params>\n<param>\n<value><string>acme</string></value>\n</param>\n\
            <param>\n<value><int>2</int></value>\n</param>\n\
            <param>\n<value><string>k&amp;y</string></value>\n</param>\n\
            <param>\n<value>untyped &#x5f20;</value>\n</param>\n\
            <param>\n<value><array><data>\n<value><array><data>\n\
            <value><string>write_date</string></value>\n<value><string>&gt;=</string></value>\n\
            <value><boolean>0</boolean></value>\n</data></array></value>\n</data></array></value>\n</param>\n\
            <param>\n<value><struct>\n<member>\n<name>limit</name>\n<value><int>5</int></value>\n</member>\n\
            <member>\n<name>ratio</name>\n<value><double>0.5</double></value>\n</member>\n\
            <member>\n<name>none</name>\n<value><nil/></value>\n</member>\n</struct></value>\n</param>\n\
            </params>\n</methodCall>\n";
        let call = parse_call(document).unwrap();
        assert_eq!(call.method, "execute_kw");
        assert_eq!(
            call.params,
            vec![
                json!("acme"),
                json!(2),
                json!("k&y"),
                json!("untyped 张"),
                json!([["write_date", ">=", false]]),
                json!({"limit": 5, "ratio": 0.5, "none": null}),
            ]
        );
        let bare = parse_call("<methodCall><methodName>version</methodName><params/></methodCall>");
        assert_eq!(bare.unwrap().params, Vec::<Value>::new());
    }

    #[test]
    fn malformed_calls_are_refused_with_the_reason() {
        for broken in [
            "<methodCall><methodName>x</methodName><params><param><value><int>1.5</int></value></param></params></methodCall>",
            "<methodCall><methodName>x</methodName><params><param><value><int>1</value></param></params></methodCall>",
            "<methodCall><methodName>x</methodName><params><param><value><blob>1</blob></value></param></params></methodCall>",
            "not xml",
        ] {
            assert!(parse_call(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn answers_round_trip_through_the_reader() {
        let value = json!({"ids": [1, 3_000_000_000_i64], "ok": true, "name": "<a & b>",
                           "none": null, "amount": 9.5});
        let encoded = response(&value);
        let as_call = encoded.replace("methodResponse", "methodCall").replacen(
            "<params>",
            "<methodName>r</methodName><params>",
            1,
        );
        assert_eq!(parse_call(&as_call).unwrap().params, vec![value]);
        assert!(encoded.contains("<i8>3000000000</i8>"));
    }

    #[test]
    fn faults_carry_odoo_codes() {
        let code = |name: &str| {
            let text = fault(&OdooError::new(name, "boom"));
            let start = text.find("<int>").unwrap() + 5;
            text[start..start + 1].to_string()
        };
        assert_eq!(code("odoo.exceptions.AccessDenied"), "3");
        assert_eq!(code("odoo.exceptions.AccessError"), "4");
        assert_eq!(code("odoo.exceptions.ValidationError"), "2");
        assert_eq!(code("builtins.ValueError"), "1");
        assert!(fault(&OdooError::value_error("bad")).contains("ValueError: bad"));
    }
}
