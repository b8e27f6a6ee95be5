//! Who a true customer is and how people write it down: names (hanzi,
//! pinyin in either order, traditional, nicknames), companies (legal name,
//! place variants, short and English names, branches), phone numbers in the
//! shapes people type them, e-mail addresses, and the 统一社会信用代码 with its
//! GB 32100-2015 check character. Pure functions over an [`Rng`].

use super::data::{
    BRANDS, CITIES, ENGLISH_FIRST, ENGLISH_LAST, GIVEN_CHARS, GIVEN_NAMES, HOMOPHONES, INDUSTRIES,
    LEGAL_SUFFIXES, MAIL_PROVIDERS, MOBILE_PREFIXES, SURNAMES, TRADITIONAL,
};
use super::rng::{scatter, Rng};

/// A person's name as the person would write it.
#[derive(Debug, Clone, PartialEq)]
pub enum PersonName {
    Chinese {
        surname: &'static str,
        surname_pinyin: &'static str,
        given: String,
        given_pinyin: String,
    },
    English {
        first: &'static str,
        last: &'static str,
    },
}

impl PersonName {
    /// The name in its own script and order: 张伟, or Michael Smith.
    pub fn full(&self) -> String {
        match self {
            PersonName::Chinese { surname, given, .. } => format!("{surname}{given}"),
            PersonName::English { first, last } => format!("{first} {last}"),
        }
    }

    /// (first name, last name) in Latin letters: ("Wei", "Zhang").
    pub fn latin(&self) -> (String, String) {
        match self {
            PersonName::Chinese {
                surname_pinyin,
                given_pinyin,
                ..
            } => (given_pinyin.clone(), surname_pinyin.to_string()),
            PersonName::English { first, last } => (first.to_string(), last.to_string()),
        }
    }

    /// Lower-case ASCII letters for mailbox names: "zhangwei".
    pub fn mailbox_stem(&self) -> String {
        let (first, last) = self.latin();
        format!("{last}{first}")
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// The surname as used in address forms (李总, 王姐): hanzi or Latin.
    pub fn surname(&self) -> &str {
        match self {
            PersonName::Chinese { surname, .. } => surname,
            PersonName::English { last, .. } => last,
        }
    }
}

/// Draws a name: mostly Chinese from the frequency tables (a third of the
/// two-character given names composed from single characters), sometimes
/// English. Returns the name and whether it is a man's.
pub fn draw_person_name(rng: &mut Rng, english_share: f64) -> (PersonName, bool) {
    if rng.chance(english_share) {
        let first_index = rng.below(ENGLISH_FIRST.len() as u64) as usize;
        let name = PersonName::English {
            first: ENGLISH_FIRST[first_index],
            last: ENGLISH_LAST[rng.below(ENGLISH_LAST.len() as u64) as usize],
        };
        return (name, first_index < 10);
    }
    let surname = SURNAMES[rng.weighted_index(SURNAMES.iter().map(|entry| entry.2))];
    let (given, given_pinyin, male) = if rng.chance(0.3) {
        let (a, a_py) = *rng.pick(GIVEN_CHARS);
        let (b, b_py) = *rng.pick(GIVEN_CHARS);
        let pinyin = capitalize(&format!("{a_py}{b_py}"));
        (format!("{a}{b}"), pinyin, rng.chance(0.5))
    } else {
        let entry = GIVEN_NAMES[rng.weighted_index(GIVEN_NAMES.iter().map(|entry| entry.3))];
        (entry.0.to_string(), entry.1.to_string(), entry.2)
    };
    let name = PersonName::Chinese {
        surname: surname.0,
        surname_pinyin: surname.1,
        given,
        given_pinyin,
    };
    (name, male)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The text in traditional characters where they differ.
pub fn to_traditional(text: &str) -> String {
    text.chars()
        .map(|c| {
            TRADITIONAL
                .iter()
                .find(|(simplified, _)| *simplified == c)
                .map_or(c, |(_, traditional)| *traditional)
        })
        .collect()
}

/// One realistic one-character edit: for hanzi a same-sound character from
/// the input method (or a dropped character), for Latin text a neighbour
/// swap, a dropped or a doubled letter. Text too short to edit is returned
/// unchanged.
pub fn typo(rng: &mut Rng, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let replaceable: Vec<usize> = (0..chars.len())
        .filter(|&i| HOMOPHONES.iter().any(|(from, _)| *from == chars[i]))
        .collect();
    if !replaceable.is_empty() {
        let at = *rng.pick(&replaceable);
        let mut edited = chars.clone();
        edited[at] = HOMOPHONES
            .iter()
            .find(|(from, _)| *from == chars[at])
            .map(|(_, to)| *to)
            .expect("replaceable characters have a homophone");
        return edited.into_iter().collect();
    }
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_alphanumeric())
        .collect();
    if letters.len() < 3 {
        return text.to_string();
    }
    let at = letters[1 + rng.below(letters.len() as u64 - 2) as usize];
    let mut edited = chars.clone();
    match rng.below(3) {
        0 if chars[at] != chars[at - 1] && !chars[at - 1].is_ascii_punctuation() => {
            edited.swap(at, at - 1)
        }
        1 => edited.insert(at, chars[at]),
        _ => {
            edited.remove(at);
        }
    }
    edited.into_iter().collect()
}

/// A company customer or employer.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    /// 华信, or two brand words together (华信恒达): registered names must
    /// differ within a region, so most firms carry a longer brand.
    pub brand: String,
    pub brand_pinyin: String,
    pub industry: &'static str,
    pub industry_english: &'static str,
    pub suffix: &'static str,
    pub suffix_english: &'static str,
    pub city: &'static str,
    pub city_pinyin: &'static str,
    pub province: &'static str,
    pub area_code: &'static str,
    /// 统一社会信用代码.
    pub credit_code: String,
    /// The switchboard (总机) every employee may give as their phone.
    pub switchboard: String,
    /// The company's web domain, unique per company.
    pub domain: String,
}

/// Draws a company; `key` is unique per company in the world and makes its
/// web domain and credit code unique.
pub fn draw_company(rng: &mut Rng, key: u64) -> Company {
    let (mut brand, mut brand_pinyin) = {
        let (brand, pinyin) = *rng.pick(BRANDS);
        (brand.to_string(), pinyin.to_string())
    };
    if !rng.chance(0.1) {
        let (second, second_pinyin) = *rng.pick(BRANDS);
        if second != brand {
            brand.push_str(second);
            brand_pinyin.push_str(&second_pinyin.to_ascii_lowercase());
        }
    }
    let (industry, industry_english, slug) = *rng.pick(INDUSTRIES);
    let suffix = LEGAL_SUFFIXES[rng.weighted_index(LEGAL_SUFFIXES.iter().map(|entry| entry.2))];
    let city = CITIES[rng.weighted_index(CITIES.iter().map(|entry| entry.5))];
    let subscriber_digits = if city.4.len() == 3 {
        8
    } else {
        7 + rng.below(2) as usize
    };
    let mut switchboard = String::from(city.4);
    switchboard.push(char::from(b'2' + rng.below(7) as u8));
    for _ in 1..subscriber_digits {
        switchboard.push(char::from(b'0' + rng.below(10) as u8));
    }
    let domain = format!(
        "{}-{slug}{}.{}",
        brand_pinyin.to_ascii_lowercase(),
        base36(key),
        ["com", "cn", "com.cn"][rng.below(3) as usize]
    );
    Company {
        brand,
        brand_pinyin,
        industry,
        industry_english,
        suffix: suffix.0,
        suffix_english: suffix.1,
        city: city.0,
        city_pinyin: city.1,
        province: city.2,
        area_code: city.4,
        credit_code: credit_code(city.3, key),
        switchboard,
        domain,
    }
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

impl Company {
    /// The registered name: 北京华信科技有限公司.
    pub fn legal_name(&self) -> String {
        format!(
            "{}{}{}{}",
            self.city, self.brand, self.industry, self.suffix
        )
    }

    /// The place in brackets after the brand and trade: 华信科技（北京）有限公司.
    pub fn place_in_middle(&self, full_width: bool) -> String {
        let (open, close) = if full_width {
            ('（', '）')
        } else {
            ('(', ')')
        };
        format!(
            "{}{}{open}{}{close}{}",
            self.brand, self.industry, self.city, self.suffix
        )
    }

    /// What people call it: 华信科技.
    pub fn short_name(&self) -> String {
        format!("{}{}", self.brand, self.industry)
    }

    /// The English name: Beijing Huaxin Technology Co., Ltd.
    pub fn english_name(&self) -> String {
        format!(
            "{} {} {} {}",
            self.city_pinyin, self.brand_pinyin, self.industry_english, self.suffix_english
        )
    }

    /// A branch office in another city: 北京华信科技有限公司上海分公司.
    pub fn branch_name(&self, rng: &mut Rng) -> String {
        let other = CITIES
            .iter()
            .map(|city| city.0)
            .filter(|city| *city != self.city)
            .nth(rng.below(CITIES.len() as u64 - 1) as usize)
            .expect("another city");
        format!("{}{other}分公司", self.legal_name())
    }

    /// One of the ways a record may name the company, at the given rates of
    /// the non-registered forms.
    pub fn name_variant(&self, rng: &mut Rng) -> String {
        match rng.below(20) {
            0..=10 => self.legal_name(),
            11..=13 => self.place_in_middle(rng.chance(0.6)),
            14..=16 => self.short_name(),
            17 => self.english_name(),
            18 => to_traditional(&self.legal_name()),
            _ => self.branch_name(rng),
        }
    }
}

/// The code characters of GB 32100-2015 (no I, O, S, V, Z).
const CREDIT_CODE_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// An 18-character 统一社会信用代码: 9 (registered by industry and commerce),
/// 1 (enterprise), the district code, a 9-character organisation code
/// (GB 11714, with its own check character) unique per `key`, and the
/// GB 32100-2015 check character.
pub fn credit_code(district: &str, key: u64) -> String {
    let body = format!("{:08}", scatter(key, 100_000_000, 31_415_926));
    let weights = [3u32, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    let organisation_check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        value => char::from(b'0' + value as u8),
    };
    let without_check = format!("91{district}{body}{organisation_check}");
    let check = credit_code_check(&without_check).expect("built from code characters");
    format!("{without_check}{check}")
}

/// The GB 32100-2015 check character of the first 17 characters of a credit
/// code; `None` if a character is not a code character.
pub fn credit_code_check(first_seventeen: &str) -> Option<char> {
    let mut sum = 0u32;
    let mut weight = 1u32;
    for byte in first_seventeen.bytes().take(17) {
        let value = CREDIT_CODE_CHARS.iter().position(|c| *c == byte)? as u32;
        sum += value * weight;
        weight = weight * 3 % 31;
    }
    Some(char::from(
        CREDIT_CODE_CHARS[((31 - sum % 31) % 31) as usize],
    ))
}

/// A mobile number unique to `key` (11 digits, `1[3-9]…`).
pub fn mobile(rng: &mut Rng, key: u64) -> String {
    format!(
        "{}{:08}",
        rng.pick(MOBILE_PREFIXES),
        scatter(key, 100_000_000, 48_213_907)
    )
}

/// A mobile number as someone typed it: with spaces, dashes, a country
/// prefix, brackets or full-width digits.
pub fn typed_mobile(rng: &mut Rng, mobile: &str) -> String {
    let (a, b, c) = (&mobile[..3], &mobile[3..7], &mobile[7..]);
    match rng.below(12) {
        0..=3 => mobile.to_string(),
        4 => format!("{a} {b} {c}"),
        5 => format!("{a}-{b}-{c}"),
        6 => format!("+86 {a} {b} {c}"),
        7 => format!("+86-{mobile}"),
        8 => format!("+86{mobile}"),
        9 => format!("(+86){mobile}"),
        10 => format!("0086 {mobile}"),
        _ => mobile
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).expect("full-width digit"))
            .collect(),
    }
}

/// A landline as someone typed it: with or without the area code, dashes,
/// brackets or an extension.
pub fn typed_landline(rng: &mut Rng, landline: &str, area_code: &str) -> String {
    let subscriber = &landline[area_code.len()..];
    match rng.below(8) {
        0..=2 => format!("{area_code}-{subscriber}"),
        3 => format!("({area_code}){subscriber}"),
        4 => landline.to_string(),
        5 => subscriber.to_string(),
        6 => format!("{area_code}-{subscriber}-{}", 8000 + rng.below(100)),
        _ => format!("{area_code}-{subscriber}转{}", 800 + rng.below(100)),
    }
}

/// `+86` and the 11 digits: how Shopify stores a validated phone.
pub fn e164(mobile: &str) -> String {
    format!("+86{mobile}")
}

/// A personal mailbox unique to `key`: numeric at qq.com, else built from
/// the pinyin name and a number.
pub fn personal_email(rng: &mut Rng, name: &PersonName, key: u64) -> String {
    let provider = MAIL_PROVIDERS[rng.weighted_index(MAIL_PROVIDERS.iter().map(|entry| entry.1))].0;
    let unique = scatter(key, 100_000_000, 7_654_321);
    if provider == "qq.com" {
        return format!(
            "{}@qq.com",
            100_000_000 + unique * 7 % 900_000_000 + key % 7
        );
    }
    let stem = name.mailbox_stem();
    match rng.below(3) {
        0 => format!("{stem}{unique}@{provider}"),
        1 => format!("{stem}_{unique}@{provider}"),
        _ => format!("{stem}.{unique}@{provider}"),
    }
}

/// A work mailbox at the company's domain; `seat` tells colleagues with the
/// same name apart.
pub fn work_email(name: &PersonName, company: &Company, seat: u64) -> String {
    let (first, last) = name.latin();
    let first = first.to_ascii_lowercase();
    let last = last.to_ascii_lowercase();
    let local: String = format!("{first}.{last}{seat}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    format!("{local}@{}", company.domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_code_check_matches_published_codes() {
        // Published codes of well-known companies.
        for code in [
            "91110000802100433B",
            "91440300708461136T",
            "91330100799655058B",
            "91350100M000100Y43",
        ] {
            assert_eq!(
                credit_code_check(&code[..17]),
                code.chars().nth(17),
                "{code}"
            );
        }
    }

    #[test]
    fn generated_credit_codes_are_valid_and_unique() {
        let codes: std::collections::HashSet<String> =
            (0..5_000).map(|key| credit_code("110105", key)).collect();
        assert_eq!(codes.len(), 5_000);
        for code in &codes {
            assert_eq!(code.chars().count(), 18);
            assert_eq!(credit_code_check(&code[..17]), code.chars().nth(17));
        }
    }

    #[test]
    fn typos_change_exactly_one_character() {
        let mut rng = Rng::new(3, 3);
        for text in ["张伟", "zhangwei88@163.com", "Huaxin"] {
            for _ in 0..50 {
                let edited = typo(&mut rng, text);
                assert_ne!(edited, text);
                let distance = strsim::levenshtein(&edited, text);
                assert!(distance <= 2, "{text} -> {edited}");
            }
        }
    }

    #[test]
    fn company_variants_keep_brand_and_place() {
        let mut rng = Rng::new(5, 5);
        let company = draw_company(&mut rng, 42);
        assert!(company.legal_name().starts_with(company.city));
        assert!(company
            .place_in_middle(true)
            .contains(&format!("（{}）", company.city)));
        assert!(company.english_name().ends_with("Ltd."));
        assert!(company.branch_name(&mut rng).ends_with("分公司"));
        assert_eq!(to_traditional("张伟"), "張偉");
    }

    #[test]
    fn typed_mobiles_keep_the_digits() {
        let mut rng = Rng::new(8, 8);
        for _ in 0..200 {
            let typed = typed_mobile(&mut rng, "13800138000");
            let digits: String = unicode_normalization::UnicodeNormalization::nfkc(typed.as_str())
                .filter(char::is_ascii_digit)
                .collect();
            assert!(digits.ends_with("13800138000"), "{typed}");
        }
    }
}
