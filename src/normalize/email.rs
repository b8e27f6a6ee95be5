//! E-mail addresses to a canonical `local@domain` form.
//!
//! [`normalize_email`] only removes what never changes where mail is delivered:
//! width variants, case, whitespace, invisible format characters, `mailto:`,
//! display names, labels and notes around the address. Provider-specific
//! aliasing (Gmail dots, `+tags`) is left to [`email_match_key`], so the stored
//! address stays the one the customer actually gave.

use std::sync::LazyLock;

use regex::Regex;

use crate::normalize::chinese::nfkc;

/// Unicode format characters (general category Cf): zero-width spaces and
/// joiners, the byte order mark, bidi marks. They are invisible, so text
/// copied from web pages and chat apps carries them unseen, and no address
/// contains one.
static FORMAT_CHARACTERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\p{Cf}+").expect("a valid pattern"));

/// RFC 5322 "specials" and friends: in an unquoted address they only appear
/// when the field holds something other than a single address.
const LOCAL_PART_FORBIDDEN: &[char] = &['"', '(', ')', ',', ':', ';', '<', '>', '[', ']', '\\'];

/// Normalizes one e-mail address: NFKC (full-width `＠` and letters), format
/// characters dropped, trim; strip a bracketed note or the brackets around the
/// address (`bob@x.com（工作）`), a display name (`"Bob" <bob@x.com>`), a label
/// (`邮箱：`), `mailto:` and a sentence's closing `。`; lowercase. Returns
/// `None` unless the result is `local@domain` with exactly one `@`, a non-empty
/// local part and a dotted domain of `[a-z0-9-]` (or Unicode IDN) labels.
pub fn normalize_email(raw: &str) -> Option<String> {
    let text = nfkc(raw);
    let text = FORMAT_CHARACTERS.replace_all(&text, "");
    let address = strip_display_name(unbracket(text.trim()).trim()).trim();
    let address = strip_mailto(strip_label(address)).trim_end_matches('。');
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

/// Mail providers anyone can sign up with, by the registered label of their
/// domains: an address there says nothing about where its owner works. A
/// provider serves the same mail under several public suffixes (`sina.com`,
/// `sina.com.cn`, `sina.cn`; `live.com`, `live.cn`; `yahoo.com.hk`), so the
/// label is matched under any of them, as is any subdomain (`vip.qq.com`).
const PERSONAL_MAIL_PROVIDERS: &[&str] = &[
    "qq",
    "foxmail",
    "163",
    "126",
    "yeah",
    "188",
    "sina",
    "sohu",
    "139",
    "189",
    "wo",
    "aliyun",
    "21cn",
    "tom",
    "263",
    "gmail",
    "googlemail",
    "outlook",
    "hotmail",
    "live",
    "msn",
    "yahoo",
    "icloud",
    "me",
    "mac",
    "proton",
    "protonmail",
    "gmx",
    "mail",
    "aol",
    "yandex",
    "zoho",
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
/// `None` for a personal mail provider (under any public suffix), a domain
/// reserved for examples (`example.com`, `.test`) and for a label under four
/// characters or without a letter, which names no firm clearly.
/// Expects output of [`normalize_email`].
pub fn employer_mail_name(normalized: &str) -> Option<String> {
    let (_, domain) = normalized.rsplit_once('@')?;
    if RESERVED_DOMAINS.contains(&domain) {
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
    if PERSONAL_MAIL_PROVIDERS.contains(registered) {
        return None;
    }
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

/// The one part of `text`, inside or outside round brackets, that holds an
/// `@`: `(bob@x.com)` and `bob@x.com(工作)` → `bob@x.com`, as CRM users wrap
/// an address or note what it is for (RFC 5322 comments take the same form).
/// `text` itself if no part or several parts hold an `@`.
fn unbracket(text: &str) -> &str {
    let mut parts = text.split(['(', ')']).filter(|part| part.contains('@'));
    match (parts.next(), parts.next()) {
        (Some(part), None) => part,
        _ => text,
    }
}

/// `邮箱:bob@x.com`, `E-mail: bob@x.com` → `bob@x.com`: a field label up to its
/// colon (NFKC has made `：` one), since a local part holds no colon (see
/// [`LOCAL_PART_FORBIDDEN`]). `mailto:` is left to [`strip_mailto`], which
/// also drops its query.
fn strip_label(text: &str) -> &str {
    match text.split_once(':') {
        Some((label, address)) if !label.contains('@') && !label.eq_ignore_ascii_case("mailto") => {
            address.trim_start()
        }
        _ => text,
    }
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
        // Labels, brackets and notes around the address.
        ("邮箱：bob@example.com", Some("bob@example.com")),
        ("E-mail:bob@example.com", Some("bob@example.com")),
        ("Email: mailto:bob@example.com", Some("bob@example.com")),
        ("bob@example.com（工作）", Some("bob@example.com")),
        ("bob@example.com (work)", Some("bob@example.com")),
        ("(bob@example.com)", Some("bob@example.com")),
        ("（bob@example.com）", Some("bob@example.com")),
        ("张三（邮箱：bob@example.com）", Some("bob@example.com")),
        ("Bob <bob@example.com> (work)", Some("bob@example.com")),
        ("bob@example.com。", Some("bob@example.com")),
        ("(a@example.com)(b@example.com)", None),
        // Invisible format characters.
        ("\u{feff}bob@example.com", Some("bob@example.com")),
        ("bob\u{200b}@example.com", Some("bob@example.com")),
        ("bob@exam\u{200d}ple.com\u{2060}", Some("bob@example.com")),
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
            (
                "邮箱：a@x.com；b@y.com（工作）\u{200b}，(c@z.com)。",
                &["a@x.com", "b@y.com", "c@z.com"],
            ),
            (
                "E-mail:a@x.com 联系人 张三（邮箱：b@y.com）",
                &["a@x.com", "b@y.com"],
            ),
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
            // Personal providers under other public suffixes.
            ("a@sina.com.cn", None),
            ("a@live.cn", None),
            ("a@live.com.cn", None),
            ("a@hotmail.com.cn", None),
            ("a@yahoo.com.hk", None),
            ("a@yahoo.co.jp", None),
            ("a@sohu.net", None),
            ("a@staff.sina.com.cn", None),
            ("a@outlook.jp", None),
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
