//! Unit tests of the webhook connector: signature verification and the
//! problems a connector file can have.

use std::path::Path;

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

/// The variable the tests' secrets come from; set by [`secret_env`].
const SECRET_VAR: &str = "TIERLINK_UNIT_WEBHOOK_SECRET";
const SECRET: &str = "It's a Secret to Everybody";

fn secret_env() {
    std::env::set_var(SECRET_VAR, SECRET);
}

fn table(text: &str) -> toml::Table {
    text.parse().expect("test TOML parses")
}

fn parse_text(text: &str) -> Result<WebhookConfig, Vec<Problem>> {
    secret_env();
    parse(Path::new("connectors/shop.toml"), &table(text))
}

fn config(extra: &str) -> WebhookConfig {
    parse_text(&format!(
        "secret = \"${{{SECRET_VAR}}}\"\n{extra}\n[streams.orders]\nprimary_key = \"id\"\n"
    ))
    .expect("test config is valid")
}

fn fields(problems: &[Problem]) -> Vec<&str> {
    problems
        .iter()
        .map(|problem| problem.field.as_str())
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    headers
}

fn hmac_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn accepts_githubs_documented_example_signature() {
    // The example from GitHub's "Validating webhook deliveries".
    let config =
        config("signature_header = \"X-Hub-Signature-256\"\nsignature_prefix = \"sha256=\"");
    let headers = headers(&[(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(
        verify_signature(&config, &headers, b"Hello, World!", 0),
        Ok(())
    );
}

#[test]
fn refuses_a_changed_body_a_wrong_secret_and_a_missing_or_unprefixed_signature() {
    let config = config("signature_prefix = \"sha256=\"");
    let good = format!("sha256={}", hex::encode(hmac_of(&[b"{\"a\":1}"])));
    let signed = headers(&[("X-Signature-256", &good)]);
    assert_eq!(verify_signature(&config, &signed, b"{\"a\":1}", 0), Ok(()));
    assert!(matches!(
        verify_signature(&config, &signed, b"{\"a\":2}", 0),
        Err(SignatureError::Mismatch { .. })
    ));
    let mut other = Hmac::<Sha256>::new_from_slice(b"another secret").expect("any key length");
    other.update(b"{\"a\":1}");
    let wrong = format!("sha256={}", hex::encode(other.finalize().into_bytes()));
    assert!(matches!(
        verify_signature(
            &config,
            &headers(&[("X-Signature-256", &wrong)]),
            b"{\"a\":1}",
            0
        ),
        Err(SignatureError::Mismatch { .. })
    ));
    assert_eq!(
        verify_signature(&config, &HeaderMap::new(), b"{\"a\":1}", 0),
        Err(SignatureError::Missing("X-Signature-256".into()))
    );
    let unprefixed = hex::encode(hmac_of(&[b"{\"a\":1}"]));
    assert!(matches!(
        verify_signature(
            &config,
            &headers(&[("X-Signature-256", &unprefixed)]),
            b"{\"a\":1}",
            0
        ),
        Err(SignatureError::MissingPrefix { .. })
    ));
    assert!(matches!(
        verify_signature(
            &config,
            &headers(&[("X-Signature-256", "sha256=not-hex")]),
            b"{}",
            0
        ),
        Err(SignatureError::NotEncoded { .. })
    ));
}

#[test]
fn accepts_upper_case_hex_and_base64_as_configured() {
    let body = b"[1,2,3]";
    let hex_config = config("");
    let upper = hex::encode_upper(hmac_of(&[body]));
    assert_eq!(
        verify_signature(
            &hex_config,
            &headers(&[("X-Signature-256", &upper)]),
            body,
            0
        ),
        Ok(())
    );
    let base64_config =
        config("signature_encoding = \"base64\"\nsignature_header = \"X-Shopify-Hmac-Sha256\"");
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(hmac_of(&[body]));
    assert_eq!(
        verify_signature(
            &base64_config,
            &headers(&[("X-Shopify-Hmac-Sha256", &encoded)]),
            body,
            0
        ),
        Ok(())
    );
    // A hex signature where base64 is configured is not accepted.
    assert!(verify_signature(
        &base64_config,
        &headers(&[("X-Shopify-Hmac-Sha256", &upper)]),
        body,
        0
    )
    .is_err());
}

#[test]
fn a_timestamp_is_signed_with_the_body_and_must_be_recent() {
    let config = config("timestamp_header = \"X-Timestamp\"\ntolerance_secs = 60");
    let body = b"{\"id\":1}";
    let now = 1_700_000_000;
    let sign = |timestamp: i64| {
        let text = timestamp.to_string();
        let signature = hex::encode(hmac_of(&[text.as_bytes(), b".", body]));
        headers(&[("X-Signature-256", &signature), ("X-Timestamp", &text)])
    };
    assert_eq!(
        verify_signature(&config, &sign(now - 30), body, now),
        Ok(())
    );
    assert_eq!(
        verify_signature(&config, &sign(now + 60), body, now),
        Ok(())
    );
    assert_eq!(
        verify_signature(&config, &sign(now - 3600), body, now),
        Err(SignatureError::Stale {
            header: "X-Timestamp".into(),
            skew: 3600,
            tolerance: 60
        })
    );
    // The body alone, without the timestamp, is not what is signed.
    let body_only = hex::encode(hmac_of(&[body]));
    let unsigned_time = headers(&[
        ("X-Signature-256", &body_only),
        ("X-Timestamp", &now.to_string()),
    ]);
    assert!(matches!(
        verify_signature(&config, &unsigned_time, body, now),
        Err(SignatureError::Mismatch { .. })
    ));
    // Moving the timestamp breaks the signature.
    let mut moved = sign(now - 3600);
    moved.insert("X-Timestamp", HeaderValue::from(now));
    assert!(matches!(
        verify_signature(&config, &moved, body, now),
        Err(SignatureError::Mismatch { .. })
    ));
    let no_time = headers(&[("X-Signature-256", &body_only)]);
    assert_eq!(
        verify_signature(&config, &no_time, body, now),
        Err(SignatureError::MissingTimestamp("X-Timestamp".into()))
    );
}

#[test]
fn refusals_never_contain_the_secret_or_the_signature() {
    let config = config("timestamp_header = \"X-Timestamp\"");
    let signature = hex::encode(hmac_of(&[b"1.x"]));
    let cases = [
        headers(&[("X-Signature-256", &signature)]),
        headers(&[("X-Signature-256", &signature), ("X-Timestamp", "soon")]),
        headers(&[("X-Signature-256", &signature), ("X-Timestamp", "1")]),
        headers(&[("X-Signature-256", &signature), ("X-Timestamp", "2")]),
    ];
    for case in cases {
        let error = verify_signature(&config, &case, b"x", 10_000)
            .expect_err("every case is refused")
            .to_string();
        assert!(!error.contains(SECRET), "{error}");
        assert!(!error.contains(&signature), "{error}");
    }
    assert!(!format!("{config:?}").contains(SECRET));
}

#[test]
fn defaults_fill_in_what_the_file_leaves_out() {
    let config = config("");
    assert_eq!(config.signature_header, DEFAULT_SIGNATURE_HEADER);
    assert_eq!(config.signature_encoding, SignatureEncoding::Hex);
    assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(config.tolerance(), None);
    assert_eq!(config.streams["orders"].records_path, None);
    let timed = self::config("timestamp_header = \"X-Timestamp\"");
    assert_eq!(timed.tolerance(), Some(DEFAULT_TOLERANCE_SECS));
}

#[test]
fn every_problem_in_a_file_is_reported_with_its_field() {
    let problems = parse_text(&format!(
        r#"
        secret = "${{{SECRET_VAR}}}"
        tolerance_secs = 30
        max_body_bytes = 0
        signature_header = "X Signature"

        [streams.orders]
        primary_key = "id"
        event_id = "event.id"
        event_id_header = "X-Event-Id"

        [streams."Bad Name"]
        primary_key = "id"

        [streams.customers]
        primary_kye = "id"
        "#
    ))
    .expect_err("the file has problems");
    let mut found = fields(&problems);
    found.sort();
    assert_eq!(
        found,
        vec![
            "max_body_bytes",
            "signature_header",
            "streams.Bad Name",
            "streams.customers.primary_kye",
            "streams.orders.event_id_header",
            "tolerance_secs",
        ],
        "{problems:#?}"
    );
    assert!(
        problems.iter().all(|problem| problem.hint.is_some()),
        "{problems:#?}"
    );
}

#[test]
fn the_secret_is_required_and_only_as_a_reference() {
    let missing = parse_text("[streams.orders]\nprimary_key = \"id\"").expect_err("no secret");
    assert_eq!(fields(&missing), vec!["secret"]);
    assert!(missing[0].message.contains("missing field `secret`"));

    let plain = parse_text("secret = \"hunter2\"\n[streams.orders]\nprimary_key = \"id\"")
        .expect_err("a plain secret");
    assert_eq!(fields(&plain), vec!["secret"]);
    assert!(plain[0]
        .message
        .contains("reference to an environment variable"));
    assert!(!format!("{plain:?}").contains("hunter2"));

    // An unset variable is reported once, by the config loader, which
    // checks every `${NAME}` in the file.
    let unset = parse_text(
        "secret = \"${TIERLINK_UNIT_WEBHOOK_NEVER_SET}\"\n[streams.orders]\nprimary_key = \"id\"",
    )
    .expect_err("an unset variable");
    assert!(unset.is_empty(), "{unset:#?}");
}

#[test]
fn a_connector_needs_streams_and_known_fields() {
    let problems = parse_text(&format!(
        "secret = \"${{{SECRET_VAR}}}\"\nsignature_heder = \"X-Sig\""
    ))
    .expect_err("problems");
    let mut found = fields(&problems);
    found.sort();
    assert_eq!(found, vec!["signature_heder", "streams"], "{problems:#?}");
    assert!(problems
        .iter()
        .any(|problem| problem.message.contains("signature_heder")));
}

#[tokio::test]
async fn pull_fetches_nothing_and_check_says_where_records_arrive() {
    let source = WebhookSource::new("shop", std::sync::Arc::new(config("")));
    assert_eq!(source.streams(), vec!["orders".to_string()]);
    let store = crate::store::open("sqlite::memory:", Path::new("."))
        .await
        .expect("in-memory store");
    let context = SourceContext::new(store);
    let (sender, mut batches) = tokio::sync::mpsc::channel(1);
    source
        .pull(&context, "orders", None, sender)
        .await
        .expect("pull returns at once");
    assert!(batches.recv().await.is_none(), "nothing is fetched");
    let report = source.check(&context).await.expect("check passes");
    assert_eq!(report.streams.len(), 1);
    assert!(
        report.streams[0].1.contains("POST /webhooks/shop/orders"),
        "{report:?}"
    );
    assert!(!format!("{report:?}").contains(SECRET));
    let (sender, _batches) = tokio::sync::mpsc::channel(1);
    assert!(source.pull(&context, "nope", None, sender).await.is_err());
}
