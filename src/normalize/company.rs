//! Company names split into brand, place, trade and legal form.
//!
//! A Chinese company's registered name is `place + brand + trade + legal form`,
//! and the place may move: `北京字节跳动科技有限公司`, `字节跳动科技(北京)有限公司`
//! and `字节跳动(北京)科技有限公司` are written for the same firm, and a CRM user
//! types just `字节跳动`. [`normalize_company_name`] takes the place out
//! (`region`), strips the legal form, keeps the trade words apart (`industry`)
//! so the brand (`core`) can be matched alone, and flags branches
//! (分公司/办事处), whose own place is recorded separately. English names get the
//! same treatment (`Tencent Technology (Shenzhen) Co., Ltd.`).

use super::address::{is_district_of, normalize_place, split_leading_region, Region};
use super::chinese::{fold, is_han, strip_accents_lowercase};

/// A company name reduced for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyName {
    /// The full name after NFKC and traditional → simplified, single spaces.
    pub display: String,
    /// The brand: what is left without place, trade words and legal form
    /// (`字节跳动`, `tencent`). Lowercase for Latin names.
    pub core: String,
    /// Where the company is registered, from a leading or bracketed place name.
    pub region: Option<Region>,
    /// Trade words between brand and legal form, in order (`科技`, `网络技术`,
    /// `technology`), if any.
    pub industry: Option<String>,
    /// True for a branch office (分公司, 办事处, 分店…): same firm as its head
    /// office by name, but a separate customer site.
    pub is_branch: bool,
    /// The branch's own place (`北京` in `…有限公司北京分公司`).
    pub branch_region: Option<Region>,
    /// Blocking key: `core` without spaces and punctuation, lowercase.
    pub key: String,
}

/// Legal forms, longest first so `集团股份有限公司` is not read as `公司`.
/// Those written in brackets after the name (`(有限合伙)`, `(普通合伙)`,
/// `(特殊普通合伙)`, and `(个体工商户)` of sole traders) are dropped with
/// the other bracketed notes, see [`drop_bracketed_notes`].
const HAN_LEGAL_SUFFIXES: &[&str] = &[
    "集团股份有限公司",
    "股份有限公司",
    "集团有限公司",
    "有限责任公司",
    "股份合作公司",
    "有限公司",
    "股份公司",
    "集团公司",
    "有限合伙",
    "总公司",
    "公司",
    "集团",
];

/// Marks of a branch office, searched from the end of the name.
const HAN_BRANCH_MARKERS: &[&str] = &[
    "分公司",
    "办事处",
    "代表处",
    "营业部",
    "分厂",
    "分店",
    "分部",
    "分行",
    "支行",
    "分所",
];

/// Trade words that sit between brand and legal form, longest first.
const HAN_INDUSTRY_WORDS: &[&str] = &[
    "房地产开发",
    "信息技术",
    "网络技术",
    "电子商务",
    "文化传媒",
    "供应链管理",
    "医疗器械",
    "企业管理",
    "科技发展",
    "技术服务",
    "云计算",
    "区块链",
    "新材料",
    "新能源",
    "半导体",
    "生物医药",
    "房地产",
    "信息",
    "科技",
    "技术",
    "网络",
    "贸易",
    "商贸",
    "实业",
    "投资",
    "控股",
    "咨询",
    "电子",
    "软件",
    "传媒",
    "文化",
    "物流",
    "建设",
    "工程",
    "医药",
    "生物",
    "食品",
    "服饰",
    "服装",
    "餐饮",
    "教育",
    "机械",
    "电器",
    "设备",
    "能源",
    "环保",
    "置业",
    "地产",
    "广告",
    "营销",
    "管理",
    "服务",
    "发展",
    "国际",
    "汽车",
    "材料",
    "建材",
    "医疗",
    "器械",
    "家居",
    "装饰",
    "包装",
    "印刷",
    "农业",
    "健康",
    "通信",
    "光电",
    "化工",
    "纺织",
    "制造",
    "智能",
    "数据",
    "金融",
    "保险",
    "证券",
    "银行",
    "进出口",
    "电商",
];

/// English legal forms as word sequences, longest first.
const LATIN_LEGAL_SUFFIXES: &[&[&str]] = &[
    &["company", "limited"],
    &["co", "limited"],
    &["co", "ltd"],
    &["pte", "ltd"],
    &["pty", "ltd"],
    &["incorporated"],
    &["corporation"],
    &["limited"],
    &["company"],
    &["corp"],
    &["ltd"],
    &["inc"],
    &["llc"],
    &["plc"],
    &["gmbh"],
    &["co"],
    &["group"],
];

/// How English names translate 科技, read as the trade word `technology`
/// (`XX Science and Technology Co., Ltd.`). `&` is part of a word and `-`
/// splits words, so `science&technology` is one and `sci-tech` two.
const LATIN_TECHNOLOGY_PHRASES: &[&[&str]] = &[
    &["science", "and", "technology"],
    &["science", "&", "technology"],
    &["science&technology"],
    &["sci", "tech"],
];

/// Marks of a branch office at the end of an English name, after the head
/// office's legal form and the branch's place (`XX Co., Ltd. Beijing Branch`).
const LATIN_BRANCH_MARKERS: &[&[&str]] = &[
    &["representative", "office"],
    &["branch", "office"],
    &["sub", "branch"],
    &["branch"],
];

/// English trade words, stripped from the end like [`HAN_INDUSTRY_WORDS`].
const LATIN_INDUSTRY_WORDS: &[&str] = &[
    "technology",
    "technologies",
    "tech",
    "trading",
    "trade",
    "network",
    "networks",
    "software",
    "electronics",
    "information",
    "consulting",
    "logistics",
    "international",
    "industrial",
    "industries",
    "holdings",
    "holding",
    "investment",
    "development",
    "services",
    "digital",
    "media",
    "pharmaceutical",
    "pharmaceuticals",
    "medical",
    "engineering",
    "manufacturing",
    "solutions",
    "systems",
];

/// Longest text, in characters, still read as a company name; registered
/// names are far shorter, longer fields are notes.
const MAX_COMPANY_CHARS: usize = 200;

/// Normalizes a company name. `None` if no letters or characters are left, or
/// the text is longer than [`MAX_COMPANY_CHARS`].
pub fn normalize_company_name(raw: &str) -> Option<CompanyName> {
    let display = fold(raw);
    if display.chars().nth(MAX_COMPANY_CHARS).is_some() {
        return None;
    }
    let name = if display.chars().any(is_han) {
        han_company(&display)
    } else {
        latin_company(&display)
    }?;
    let key: String = name
        .core
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    (!key.is_empty()).then_some(CompanyName {
        display,
        core: name.core,
        region: name.region,
        industry: name.industry,
        is_branch: name.is_branch,
        branch_region: name.branch_region,
        key,
    })
}

struct Parts {
    core: String,
    region: Option<Region>,
    industry: Option<String>,
    is_branch: bool,
    branch_region: Option<Region>,
}

fn han_company(display: &str) -> Option<Parts> {
    let text: String = display
        .chars()
        .filter_map(han_name_char)
        .flat_map(char::to_lowercase)
        .collect();
    let text = drop_bracketed_notes(&text);
    let (head, is_branch, branch_region) = split_branch(&text);
    if head.is_empty() || HAN_LEGAL_SUFFIXES.contains(&head) {
        return None;
    }
    let mut name = strip_han_legal_suffixes(head).to_string();
    let mut region = None;
    // Bracketed places anywhere: `字节跳动(北京)科技`, `腾讯科技(深圳)`.
    while let Some((start, end)) = bracket_group(&name) {
        region = region.or_else(|| normalize_place(&name[start + 1..end - 1]));
        name.replace_range(start..end, "");
        name = strip_han_legal_suffixes(&name).to_string();
    }
    // A place followed by trade words only (`北京银行`) is the name itself.
    if let Some((place, rest)) = split_leading_region(&name) {
        let rest = place
            .city_code
            .map_or(rest, |city| strip_leading_district(city, rest));
        let (rest_core, _) = split_trailing_words(rest, HAN_INDUSTRY_WORDS, 0);
        if rest.chars().count() >= 2 && !rest_core.is_empty() {
            region = region.or(Some(place));
            name = rest.to_string();
        }
    }
    let (core, industry) = split_trailing_words(&name, HAN_INDUSTRY_WORDS, 2);
    Some(Parts {
        core: core.to_string(),
        region,
        industry,
        is_branch,
        branch_region,
    })
}

/// Splits `…有限公司北京分公司` into head office name, branch flag and the
/// branch's place.
fn split_branch(text: &str) -> (&str, bool, Option<Region>) {
    let Some((marker_at, _)) = HAN_BRANCH_MARKERS
        .iter()
        .filter_map(|marker| text.rfind(marker).map(|at| (at, marker)))
        .max_by_key(|(at, marker)| (*at, marker.len()))
    else {
        return (text, false, None);
    };
    let before = &text[..marker_at];
    // The head office's name ends at its legal form; what follows names the
    // branch (`…有限公司北京分公司`). Without one, the branch's place is the
    // longest place name ending right before the marker.
    if let Some(end) = before.rfind("公司").map(|at| at + "公司".len()) {
        let place = before[end..].trim_matches(['(', ')']);
        return (&before[..end], true, normalize_place(place));
    }
    for (at, _) in before.char_indices() {
        if let Some(place) = normalize_place(before[at..].trim_matches(['(', ')'])) {
            return (&before[..at], true, Some(place));
        }
    }
    (before, true, None)
}

fn strip_han_legal_suffixes(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = HAN_LEGAL_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|rest| !rest.is_empty()))
    {
        name = rest;
    }
    name
}

/// Opening and closing brackets of any kind a name may hold a place or a
/// note in (NFKC has already made `（）` and `［］` ASCII). Book title marks
/// (`《》`) are not among them: what they enclose is the name.
const HAN_OPENING_BRACKETS: &[char] = &['(', '[', '{', '【', '〔', '〖'];
const HAN_CLOSING_BRACKETS: &[char] = &[')', ']', '}', '】', '〕', '〗'];

/// What a Chinese company name keeps of a character: letters and digits, and
/// brackets as `(` and `)`. Registered names hold nothing else; punctuation
/// and symbols are typing noise (`…有限公司。`), dropped like whitespace, so
/// that a name ends at its legal form.
fn han_name_char(c: char) -> Option<char> {
    if HAN_OPENING_BRACKETS.contains(&c) {
        Some('(')
    } else if HAN_CLOSING_BRACKETS.contains(&c) {
        Some(')')
    } else {
        c.is_alphanumeric().then_some(c)
    }
}

/// `text` without the bracketed groups that name no place: notes after the
/// name (`(已注销)`, `(筹)`, `【VIP】`), `(集团)`, `(中国)` and the bracketed
/// legal forms (`(有限合伙)`, `(个体工商户)`). Places stay, for the head
/// office's region (`腾讯科技(深圳)有限公司`) or the branch's
/// (`…有限公司(北京)分公司`). This comes before the branch marker and the
/// legal form are looked for, which a note would hide or fake
/// (`…有限公司(原北京分公司)`).
fn drop_bracketed_notes(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end)) = bracket_group(rest) {
        kept.push_str(&rest[..start]);
        if normalize_place(&rest[start + 1..end - 1]).is_some() {
            kept.push_str(&rest[start..end]);
        }
        rest = &rest[end..];
    }
    kept.push_str(rest);
    kept
}

/// The byte range of the first `(` and its matching `)`, nested groups
/// included. `None` if that `(` is never closed.
fn bracket_group(text: &str) -> Option<(usize, usize)> {
    let open = text.find('(')?;
    let mut depth = 0_usize;
    for (at, byte) in text.bytes().enumerate().skip(open) {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open, at + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// `rest` without the district of `city` it starts with: `深圳市南山区某某科技`
/// is registered in 深圳 like `深圳市某某科技`, and the brand is `某某` in
/// both. Only an official name of one of the city's own districts counts, and
/// only if some of the brand is left after it (`深圳市南山区科技` keeps
/// `南山区`), so a brand that starts like one (`南山区块链`, where the trade
/// word is `区块链`) is kept whole.
fn strip_leading_district(city: u32, rest: &str) -> &str {
    let (brand, _) = split_trailing_words(rest, HAN_INDUSTRY_WORDS, 0);
    brand
        .char_indices()
        .filter(|&(at, c)| matches!(c, '区' | '县' | '旗') && at + c.len_utf8() < brand.len())
        .map(|(at, c)| &brand[..at + c.len_utf8()])
        .find(|district| is_district_of(district, city))
        .map_or(rest, |district| &rest[district.len()..])
}

/// The brand of a Han firm key (`core` and `industry` run together, as
/// matching keeps them): the key without its trailing trade words, at
/// least two characters (`华为` of `华为技术`, `东方锦程` of `东方锦程建材`).
pub fn han_brand(firm_key: &str) -> &str {
    split_trailing_words(firm_key, HAN_INDUSTRY_WORDS, 2).0
}

/// Strips words of `vocabulary` from the end of `name` while at least
/// `min_core_chars` characters remain, returning the rest and the stripped
/// words in their original order.
fn split_trailing_words<'n>(
    name: &'n str,
    vocabulary: &[&str],
    min_core_chars: usize,
) -> (&'n str, Option<String>) {
    let mut core = name;
    while let Some(rest) = vocabulary.iter().find_map(|word| {
        core.strip_suffix(word)
            .filter(|rest| rest.chars().count() >= min_core_chars)
    }) {
        core = rest;
    }
    let industry = &name[core.len()..];
    (core, (!industry.is_empty()).then(|| industry.to_string()))
}

fn latin_company(display: &str) -> Option<Parts> {
    let lowered = strip_accents_lowercase(display);
    let mut region = None;
    // Bracketed places first: `Tencent Technology (Shenzhen) Co., Ltd.`
    let mut unbracketed = String::with_capacity(lowered.len());
    let mut rest = lowered.as_str();
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|at| at + open) else {
            break;
        };
        let inner = &rest[open + 1..close];
        unbracketed.push_str(&rest[..open]);
        match normalize_place(inner) {
            Some(place) => region = region.or(Some(place)),
            None if inner.trim() == "china" => {}
            None => unbracketed.push_str(inner),
        }
        unbracketed.push(' ');
        rest = &rest[close + 1..];
    }
    unbracketed.push_str(rest);
    let mut words: Vec<&str> = unbracketed
        .split(|c: char| !c.is_alphanumeric() && c != '&')
        .filter(|w| !w.is_empty())
        .collect();
    let mut at = 0;
    while at < words.len() {
        if let Some(phrase) = LATIN_TECHNOLOGY_PHRASES
            .iter()
            .find(|phrase| words[at..].starts_with(phrase))
        {
            words.splice(at..at + phrase.len(), ["technology"]);
        }
        at += 1;
    }
    let (is_branch, branch_region) = split_latin_branch(&mut words);
    let is_legal_word = |w: &&str| LATIN_LEGAL_SUFFIXES.iter().any(|s| s.contains(w));
    if words.iter().all(is_legal_word) {
        return None;
    }
    loop {
        let before = words.len();
        if let Some(suffix) = LATIN_LEGAL_SUFFIXES
            .iter()
            .find(|suffix| words.len() > suffix.len() && words.ends_with(suffix))
        {
            words.truncate(words.len() - suffix.len());
        }
        let only_trade_words_besides = |place_at: usize| {
            words
                .iter()
                .enumerate()
                .all(|(i, w)| i == place_at || LATIN_INDUSTRY_WORDS.contains(w))
        };
        // A place with trade words only (`Shanghai Trading`) is the name itself.
        let place_is_name = words.len() < 2
            || only_trade_words_besides(0)
            || only_trade_words_besides(words.len() - 1);
        if !place_is_name {
            if let Some(place) = words.last().and_then(|w| normalize_place(w)) {
                region = region.or(Some(place));
                words.pop();
            } else if let Some(place) = words.first().and_then(|w| normalize_place(w)) {
                region = region.or(Some(place));
                words.remove(0);
            }
        }
        if words.len() == before {
            break;
        }
    }
    if words.is_empty() {
        return None;
    }
    let mut industry_words = Vec::new();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| LATIN_INDUSTRY_WORDS.contains(w))
    {
        industry_words.extend(words.pop());
    }
    industry_words.reverse();
    Some(Parts {
        core: words.join(" "),
        region,
        industry: (!industry_words.is_empty()).then(|| industry_words.join(" ")),
        is_branch,
        branch_region,
    })
}

/// Takes a branch marker and the branch's place off the end of an English
/// name's words (`xx co ltd beijing branch` → `xx co ltd`, 北京), like
/// [`split_branch`]: only after a legal form, since a name without one may
/// end in the word as a brand does (`Olive Branch`).
fn split_latin_branch(words: &mut Vec<&str>) -> (bool, Option<Region>) {
    let Some(marker) = LATIN_BRANCH_MARKERS
        .iter()
        .find(|marker| words.ends_with(marker))
    else {
        return (false, None);
    };
    let mut head = words.len() - marker.len();
    let place = head
        .checked_sub(1)
        .and_then(|last| normalize_place(words[last]));
    if place.is_some() {
        head -= 1;
    }
    let after_legal_form = LATIN_LEGAL_SUFFIXES
        .iter()
        .any(|suffix| head > suffix.len() && words[..head].ends_with(suffix));
    if !after_legal_form {
        return (false, None);
    }
    words.truncate(head);
    (true, place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn company(raw: &str) -> CompanyName {
        normalize_company_name(raw).unwrap_or_else(|| panic!("{raw:?} rejected"))
    }

    type Summary<'a> = (&'a str, Option<&'static str>, Option<&'a str>);

    fn summary(name: &CompanyName) -> Summary<'_> {
        (
            name.core.as_str(),
            name.region.map(|r| r.city.unwrap_or(r.province)),
            name.industry.as_deref(),
        )
    }

    #[test]
    fn place_may_sit_anywhere() {
        let expected = ("字节跳动", Some("北京"), Some("科技"));
        for raw in [
            "北京字节跳动科技有限公司",
            "字节跳动科技(北京)有限公司",
            "字节跳动(北京)科技有限公司",
            "字节跳动科技（北京）有限公司",
            "北京市字节跳动科技有限公司",
            "北京市海淀区字节跳动科技有限公司",
            "字节跳动科技(北京)有限公司(已注销)",
        ] {
            let name = company(raw);
            assert_eq!(summary(&name), expected, "{raw:?}");
            assert_eq!(name.key, "字节跳动", "{raw:?}");
        }
    }

    #[test]
    fn the_brand_of_a_firm_key_leaves_its_trade_words_out() {
        assert_eq!(han_brand("华为技术"), "华为");
        assert_eq!(han_brand("东方锦程建材"), "东方锦程");
        assert_eq!(han_brand("创新华信网络科技"), "创新华信");
        assert_eq!(han_brand("科技"), "科技");
        assert_eq!(han_brand("字节跳动"), "字节跳动");
    }

    #[test]
    fn strips_legal_forms_and_trade_words() {
        let cases: &[(&str, Summary)] = &[
            (
                "腾讯科技（深圳）有限公司",
                ("腾讯", Some("深圳"), Some("科技")),
            ),
            (
                "騰訊科技（深圳）有限公司",
                ("腾讯", Some("深圳"), Some("科技")),
            ),
            (
                "阿里巴巴(中国)网络技术有限公司",
                ("阿里巴巴", None, Some("网络技术")),
            ),
            ("华为技术有限公司", ("华为", None, Some("技术"))),
            ("海尔集团公司", ("海尔", None, None)),
            (
                "中国平安保险(集团)股份有限公司",
                ("中国平安", None, Some("保险")),
            ),
            ("万科企业股份有限公司", ("万科企业", None, None)),
            ("小米通讯技术有限公司", ("小米通讯", None, Some("技术"))),
            (
                "广东省深圳市华强电子有限公司",
                ("华强", Some("深圳"), Some("电子")),
            ),
            (
                "上海某某贸易有限责任公司",
                ("某某", Some("上海"), Some("贸易")),
            ),
            ("某某集团股份有限公司", ("某某", None, None)),
            ("某某集团有限公司", ("某某", None, None)),
            (
                "某某投资合伙企业(有限合伙)",
                ("某某投资合伙企业", None, None),
            ),
            ("科技有限公司", ("科技", None, None)),
            ("ABC科技有限公司", ("abc", None, Some("科技"))),
            ("北京银行股份有限公司", ("北京", None, Some("银行"))),
            (
                "阿里巴巴网络技术有限公司",
                ("阿里巴巴", None, Some("网络技术")),
            ),
            // Notes and punctuation after the legal form.
            ("某某科技有限公司（已注销）", ("某某", None, Some("科技"))),
            ("某某科技有限公司(筹)", ("某某", None, Some("科技"))),
            ("某某科技有限公司【VIP】", ("某某", None, Some("科技"))),
            ("某某科技有限公司［VIP］", ("某某", None, Some("科技"))),
            ("某某科技有限公司。", ("某某", None, Some("科技"))),
            ("某某科技有限公司(已注销)。", ("某某", None, Some("科技"))),
            ("“某某科技有限公司”", ("某某", None, Some("科技"))),
            (
                "阿里巴巴（中国）网络技术有限公司（已注销）",
                ("阿里巴巴", None, Some("网络技术")),
            ),
            ("《读者》杂志社", ("读者杂志社", None, None)),
            // Sole traders and special general partnerships.
            ("某某店（个体工商户）", ("某某店", None, None)),
            (
                "某某会计师事务所（特殊普通合伙）",
                ("某某会计师事务所", None, None),
            ),
            // A district of the city between it and the brand.
            (
                "深圳市南山区某某科技有限公司",
                ("某某", Some("深圳"), Some("科技")),
            ),
            (
                "广东省深圳市南山区某某科技有限公司",
                ("某某", Some("深圳"), Some("科技")),
            ),
            (
                "上海市浦东新区某某贸易有限公司",
                ("某某", Some("上海"), Some("贸易")),
            ),
            (
                "重庆市石柱土家族自治县某某食品有限公司",
                ("某某", Some("重庆"), Some("食品")),
            ),
            // Not one of 深圳's districts; nothing of the brand left after it;
            // a brand that starts like a district.
            (
                "深圳市朝阳区某某科技有限公司",
                ("朝阳区某某", Some("深圳"), Some("科技")),
            ),
            (
                "深圳市南山区科技有限公司",
                ("南山区", Some("深圳"), Some("科技")),
            ),
            (
                "深圳市南山区块链科技有限公司",
                ("南山", Some("深圳"), Some("区块链科技")),
            ),
        ];
        for &(raw, expected) in cases {
            assert_eq!(summary(&company(raw)), expected, "{raw:?}");
        }
    }

    #[test]
    fn english_names() {
        let cases: &[(&str, Summary)] = &[
            (
                "Tencent Technology (Shenzhen) Co., Ltd.",
                ("tencent", Some("深圳"), Some("technology")),
            ),
            (
                "Beijing ByteDance Technology Co., Ltd.",
                ("bytedance", Some("北京"), Some("technology")),
            ),
            ("Apple Inc.", ("apple", None, None)),
            (
                "ACME Trading Company Limited",
                ("acme", None, Some("trading")),
            ),
            ("Foo Holdings Group Corp.", ("foo", None, Some("holdings"))),
            ("Siemens (China) Co., Ltd.", ("siemens", None, None)),
            ("Müller GmbH", ("muller", None, None)),
            ("Shanghai Ltd", ("shanghai", None, None)),
            ("Dali Foods Group Co., Ltd.", ("dali foods", None, None)),
            (
                "Shanghai Trading Co., Ltd.",
                ("shanghai", None, Some("trading")),
            ),
            (
                "XX Science and Technology Co., Ltd.",
                ("xx", None, Some("technology")),
            ),
            (
                "Beijing XX Science & Technology Co., Ltd.",
                ("xx", Some("北京"), Some("technology")),
            ),
            ("XX Sci-Tech Co., Ltd.", ("xx", None, Some("technology"))),
            ("Olive Branch Co., Ltd.", ("olive branch", None, None)),
        ];
        for &(raw, expected) in cases {
            assert_eq!(summary(&company(raw)), expected, "{raw:?}");
        }
    }

    #[test]
    fn flags_branches_with_their_place() {
        let name = company("腾讯科技(深圳)有限公司北京分公司");
        assert!(name.is_branch);
        assert_eq!(summary(&name), ("腾讯", Some("深圳"), Some("科技")));
        assert_eq!(name.branch_region.map(|r| r.province), Some("北京"));
        let name = company("某某科技上海办事处");
        assert!(name.is_branch);
        assert_eq!(name.core, "某某");
        assert_eq!(name.branch_region.map(|r| r.province), Some("上海"));
        let name = company("某某贸易有限公司第一分公司");
        assert!(name.is_branch);
        assert_eq!(name.branch_region, None);
        assert!(!company("腾讯科技(深圳)有限公司").is_branch);
        let name = company("某某科技有限公司(原北京分公司)");
        assert!(!name.is_branch);
        assert_eq!(name.core, "某某");
        let name = company("某某科技有限公司(北京)分公司(已注销)");
        assert!(name.is_branch);
        assert_eq!(name.core, "某某");
        assert_eq!(name.branch_region.map(|r| r.province), Some("北京"));
        let name = company("XX Co., Ltd. Beijing Branch");
        assert!(name.is_branch);
        assert_eq!(name.core, "xx");
        assert_eq!(name.branch_region.map(|r| r.province), Some("北京"));
        let name = company("Acme Trading Co., Ltd., Branch Office");
        assert!(name.is_branch);
        assert_eq!(summary(&name), ("acme", None, Some("trading")));
        assert_eq!(name.branch_region, None);
        // Without a legal form before it, `branch` is a word of the name.
        assert!(!company("Olive Branch").is_branch);
    }

    #[test]
    fn rejects_empty_names() {
        for raw in [
            "",
            "   ",
            "()",
            "Co., Ltd.",
            "---",
            "有限公司",
            "北京分公司",
            "(已注销)",
            "有限公司(筹)",
            "。",
            "Co., Ltd. Beijing Branch",
        ] {
            assert_eq!(normalize_company_name(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn rejects_long_text_quickly() {
        let start = std::time::Instant::now();
        assert_eq!(normalize_company_name(&"某科技北京".repeat(10_000)), None);
        assert_eq!(normalize_company_name(&"Acme ".repeat(10_000)), None);
        let longest = format!("{}有限公司", "某".repeat(MAX_COMPANY_CHARS - 4));
        assert!(normalize_company_name(&longest).is_some());
        // Quadratic work on this input would take minutes.
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = normalize_company_name(&raw);
        }

        #[test]
        fn never_panics_on_company_like_text(raw in "[北京上海深圳()（）某科技贸易有限公司集团分办事处 a-zA-Z.,]{0,30}") {
            let _ = normalize_company_name(&raw);
        }

        #[test]
        fn idempotent(raw in "[北京上海深圳()（）某字节跳动科技贸易有限公司集团分办事处 a-zA-Z.,]{0,30}") {
            if let Some(first) = normalize_company_name(&raw) {
                prop_assert_eq!(normalize_company_name(&first.display), Some(first.clone()));
                // The core alone is a name of the same firm.
                if let Some(core) = normalize_company_name(&first.core) {
                    prop_assert_eq!(core.key, first.key);
                }
            }
        }
    }
}
