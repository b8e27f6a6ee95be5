//! E-mail addresses to a canonical `local@domain` form.
//!
//! [`normalize_email`] only removes what never changes where mail is delivered:
//! width variants, case, whitespace, `mailto:`, display names. Provider-specific
//! aliasing (Gmail dots, `+tags`) is left to [`email_match_key`], so the stored
//! address stays the one the customer actually gave.

use crate::normalize::chinese::nfkc;

/// RFC 5322 "specials" and friends: in an unquoted address they only appear
/// when the field holds something other than a single address.
const LOCAL_PART_FORBIDDEN: &[char] = &['"', '(', ')', ',', ':', ';', '<', '>', '[', ']', '\\'];

/// Normalizes one e-mail address: NFKC (full-width `＠` and letters), trim,
/// strip `mailto:` and a display name (`"Bob" <bob@x.com>`), lowercase. Returns
/// `None` unless the result is `local@domain` with exactly one `@`, a non-empty
/// local part and a dotted domain of `[a-z0-9-]` (or Unicode IDN) labels.
pub fn normalize_email(raw: &str) -> Option<String> {
    let text = nfkc(raw);
    let address = strip_mailto(strip_display_name(text.trim()).trim());
    let email = canonical_case(address);
    let (local, domain) = email.split_once('@')?;
    // `local` holds no `@` by construction and `is_valid_domain` rejects one,
    // so a valid address has exactly one `@`.
    let valid = is_valid_local(local) && is_valid_domain(domain) && is_stable(&email);
    valid.then_some(email)
}

/// Normalizes a field that may hold several addresses separated by `,` `;`
/// `；` `，` `、` or whitespace, returning each valid one once, in order.
pub fn normalize_emails(raw: &str) -> Vec<String> {
    // NFKC first so that `，` and `；` become the ASCII separators split on below.
    let text = nfkc(raw);
    let mut emails: Vec<String> = Vec::new();
    for part in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '、')) {
        if let Some(email) = normalize_email(part) {
            if !emails.contains(&email) {
                emails.push(email);
            }
        }
    }
    emails
}

/// Builds the key used to match addresses that reach the same mailbox. For
/// gmail.com and googlemail.com, Gmail ignores dots and `+tags` and treats both
/// domains as one, so all three are folded; elsewhere only the widely supported
/// `+tag` sub-addressing is removed, since dots may be significant.
/// Expects output of [`normalize_email`].
pub fn email_match_key(normalized: &str) -> String {
    let Some((local, domain)) = normalized.rsplit_once('@') else {
        return normalized.to_string();
    };
    let local = strip_plus_tag(local);
    if domain == "gmail.com" || domain == "googlemail.com" {
        format!("{}@gmail.com", local.replace('.', ""))
    } else {
        format!("{local}@{domain}")
    }
}

/// Mail providers anyone can sign up with: an address there says nothing
/// about where its owner works.
const PERSONAL_MAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "vip.qq.com",
    "foxmail.com",
    "163.com",
    "vip.163.com",
    "126.com",
    "yeah.net",
    "188.com",
    "sina.com",
    "sina.cn",
    "vip.sina.com",
    "sohu.com",
    "139.com",
    "189.cn",
    "wo.cn",
    "aliyun.com",
    "21cn.com",
    "tom.com",
    "263.net",
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.com.cn",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "mail.com",
    "aol.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
];

/// Domains reserved for examples and tests (RFC 2606, RFC 6761), which
/// placeholder addresses such as `none@example.com` use: no employer's.
const RESERVED_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];
const RESERVED_TOP_LEVEL: &[&str] = &["example", "test", "invalid", "localhost", "local"];

/// Second-level labels under which a country's firms register
/// (`huawei.com.cn`, `acme.co.uk`).
const SECOND_LEVEL_SUFFIXES: &[&str] = &["com", "net", "org", "gov", "edu", "co", "ac", "ltd"];

/// The name an employer's mail domain gives its firm, for a work address:
/// the registered label up to its first hyphen, lowercase (`huawei` from
/// `li.lei@huawei.com`, `lixinjiahe` from `x@mail.lixinjiahe-tech.com.cn`).
/// `None` for a personal mail provider, a domain reserved for examples
/// (`example.com`, `.test`) and for a label under four
/// characters or without a letter, which names no firm clearly.
/// Expects output of [`normalize_email`].
pub fn employer_mail_name(normalized: &str) -> Option<String> {
    let (_, domain) = normalized.rsplit_once('@')?;
    if PERSONAL_MAIL_DOMAINS.contains(&domain) || RESERVED_DOMAINS.contains(&domain) {
        return None;
    }
    let mut labels: Vec<&str> = domain.split('.').collect();
    if RESERVED_TOP_LEVEL.contains(&labels.pop()?) {
        return None;
    }
    if labels.len() > 1 && SECOND_LEVEL_SUFFIXES.contains(labels.last()?) {
        labels.pop();
    }
    let registered = labels.last()?;
    let name = registered.split('-').next()?;
    (name.chars().count() >= 4 && name.chars().any(char::is_alphabetic)).then(|| name.to_string())
}

/// Masks an address for logs as `b***@example.com`: the domain helps debugging,
/// the local part is personal data.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// `"Bob" <bob@x.com>` and `<bob@x.com>` → `bob@x.com`.
fn strip_display_name(text: &str) -> &str {
    text.strip_suffix('>')
        .and_then(|rest| rest.rsplit_once('<'))
        .map_or(text, |(_, address)| address)
}

/// `mailto:bob@x.com?subject=hi` → `bob@x.com`.
fn strip_mailto(text: &str) -> &str {
    match text.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => {
            let address = &text[7..];
            address
                .split_once('?')
                .map_or(address, |(address, _)| address)
        }
        _ => text,
    }
}

/// Lowercases and maps the ideographic full stop `。`, which Chinese input
/// methods produce in domains, to `.` as IDNA does.
fn canonical_case(text: &str) -> String {
    text.to_lowercase().replace('。', ".")
}

/// True if normalizing `email` again would not change it. Lowercasing can, for
/// a few exotic characters, produce text that NFKC changes again; such input is
/// rejected so that normalization is idempotent.
fn is_stable(email: &str) -> bool {
    canonical_case(&nfkc(email)) == email
}

fn strip_plus_tag(local: &str) -> &str {
    match local.split_once('+') {
        // `+tag@x.com` has no base to fall back to; keep it whole.
        Some((base, _)) if !base.is_empty() => base,
        _ => local,
    }
}

fn is_valid_local(local: &str) -> bool {
    !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || LOCAL_PART_FORBIDDEN.contains(&c))
}

fn is_valid_domain(domain: &str) -> bool {
    domain.contains('.') && domain.split('.').all(is_valid_label)
}

/// A DNS label: letters, digits and inner hyphens; Unicode letters are kept so
/// that IDN domains stay readable.
fn is_valid_label(label: &str) -> bool {
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: &[(&str, Option<&str>)] = &[
        ("bob@example.com", Some("bob@example.com")),
        ("  Bob@Example.COM  ", Some("bob@example.com")),
        ("ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", Some("bob@example.com")),
        ("mailto:bob@example.com", Some("bob@example.com")),
        ("MAILTO:Bob@Example.com?subject=hi", Some("bob@example.com")),
        ("<bob@example.com>", Some("bob@example.com")),
        ("<mailto:bob@example.com>", Some("bob@example.com")),
        ("\"Bob\" <bob@example.com>", Some("bob@example.com")),
        (
            "Bob Smith <Bob.Smith+news@Example.com>",
            Some("bob.smith+news@example.com"),
        ),
        ("张三 <zhangsan@qq.com>", Some("zhangsan@qq.com")),
        (
            "first.last+tag@sub.example.co.uk",
            Some("first.last+tag@sub.example.co.uk"),
        ),
        ("user@例子.中国", Some("user@例子.中国")),
        ("User@例子。中国", Some("user@例子.中国")),
        (
            "user@xn--fsqu00a.xn--fiqs8s",
            Some("user@xn--fsqu00a.xn--fiqs8s"),
        ),
        ("bob@@example.com", None),
        ("bob@example@com", None),
        ("@example.com", None),
        ("bob@", None),
        ("bob", None),
        ("bob@localhost", None),
        ("bob smith@example.com", None),
        ("bob@exa mple.com", None),
        ("bob@example..com", None),
        ("bob@example.com.", None),
        ("bob@-example.com", None),
        ("bob@exa_mple.com", None),
        ("bob,alice@example.com", None),
        ("", None),
        ("   ", None),
        ("not an email", None),
    ];

    #[test]
    fn normalizes_single_addresses() {
        for &(input, expected) in CASES {
            assert_eq!(
                normalize_email(input).as_deref(),
                expected,
                "input: {input:?}"
            );
        }
    }

    #[test]
    fn builds_match_keys() {
        let cases = [
            ("john.doe+spam@gmail.com", "johndoe@gmail.com"),
            ("john.doe@googlemail.com", "johndoe@gmail.com"),
            ("johndoe@gmail.com", "johndoe@gmail.com"),
            ("john.doe+spam@example.com", "john.doe@example.com"),
            ("john.doe@qq.com", "john.doe@qq.com"),
            ("+tag@example.com", "+tag@example.com"),
            ("no-at-sign", "no-at-sign"),
        ];
        for (input, expected) in cases {
            assert_eq!(email_match_key(input), expected, "input: {input:?}");
        }
    }

    #[test]
    fn splits_multi_value_fields() {
        let cases: &[(&str, &[&str])] = &[
            (
                "a@x.com, b@y.com；A@X.com，c@z.com bad",
                &["a@x.com", "b@y.com", "c@z.com"],
            ),
            (
                "a@x.com;b@y.com\nc@z.com、d@w.com",
                &["a@x.com", "b@y.com", "c@z.com", "d@w.com"],
            ),
            ("Bob <bob@x.com>", &["bob@x.com"]),
            ("n/a", &[]),
            ("", &[]),
        ];
        for &(input, expected) in cases {
            assert_eq!(normalize_emails(input), expected, "input: {input:?}");
        }
    }

    #[test]
    fn names_the_employer_of_a_work_address_only() {
        for (email, name) in [
            ("li.lei@huawei.com", Some("huawei")),
            ("x@mail.lixinjiahe-tech8k.com.cn", Some("lixinjiahe")),
            ("bob@acme.co.uk", Some("acme")),
            ("zhangsan@qq.com", None),
            ("wei.zhang@gmail.com", None),
            ("a@vip.163.com", None),
            ("a@jd.com", None),
            ("a@1688.com", None),
            ("a@localhost", None),
            ("none@example.com", None),
            ("c1@shop.example", None),
            ("qa@acme.test", None),
        ] {
            assert_eq!(employer_mail_name(email).as_deref(), name, "{email}");
        }
    }

    #[test]
    fn masks_addresses_for_logs() {
        let cases = [
            ("bob@example.com", "b***@example.com"),
            ("张三@qq.com", "张***@qq.com"),
            ("@example.com", "***@example.com"),
            ("nope", "***"),
        ];
        for (input, expected) in cases {
            assert_eq!(mask_email(input), expected, "input: {input:?}");
        }
    }

    fn assert_idempotent(raw: &str) -> Result<(), TestCaseError> {
        if let Some(first) = normalize_email(raw) {
            prop_assert_eq!(
                normalize_email(&first),
                Some(first.clone()),
                "raw: {:?}",
                raw
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn idempotent_on_arbitrary_text(raw in any::<String>()) {
            assert_idempotent(&raw)?;
        }

        #[test]
        fn idempotent_on_unicode_addresses(raw in "\\PC{1,8}@\\PC{1,8}\\.\\PC{1,4}") {
            assert_idempotent(&raw)?;
        }

        #[test]
        fn accepts_and_keeps_plain_addresses(
            raw in "[a-zA-Z0-9._+-]{1,12}@[a-zA-Z0-9]{1,10}\\.[a-zA-Z]{2,6}",
        ) {
            let first = normalize_email(&raw);
            prop_assert_eq!(first.clone(), Some(raw.to_lowercase()));
            assert_idempotent(&raw)?;
        }
    }
}
