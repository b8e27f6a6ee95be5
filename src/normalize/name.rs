//! Person names for matching across scripts and name orders.
//!
//! The same person shows up as `張偉` in a Hong Kong shop, `张伟先生` in the
//! help desk, `Zhang Wei` in Shopify, `WEI ZHANG` on a passport-style form and
//! `zhangwei` as a login. [`normalize_person_name`] reduces each to a
//! [`PersonName`] whose `keys` are order-independent toneless-pinyin (or, for
//! other names, lowercase token) forms; two names that share a key are the same
//! name. [`name_similarity`] grades near misses.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::char::is_combining_mark;

use super::chinese::{
    fold, is_han, pinyin_reading, pinyin_readings, strip_accents_lowercase,
    PINYIN_U_UMLAUT_SPELLINGS,
};

/// Which writing system a name is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    /// Chinese characters only.
    Han,
    /// Latin letters only (accents removed); other alphabetic scripts count
    /// here too, as "not Chinese".
    Latin,
    /// Both, e.g. `张伟 David`.
    Mixed,
}

/// A person name reduced for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    /// Cleaned form for display: NFKC, simplified characters, single spaces,
    /// honorifics and emoji removed (`張偉先生` → `张伟`).
    pub display: String,
    /// Script of `display`.
    pub script: Script,
    /// Surname, when the name shows it: the first character(s) of a Chinese
    /// name (compound surnames such as 欧阳 included), or the part before the
    /// comma in `Smith, John`. A nickname such as `李总` gives only a surname.
    pub surname: Option<String>,
    /// Given name, when the surname is known and something follows it.
    pub given_name: Option<String>,
    /// Order-independent comparison keys, sorted and deduplicated. A Chinese
    /// name yields `"<given> <surname>"` in toneless pinyin, sorted, once per
    /// reading of its heteronyms (`张伟` → `wei zhang`); a Latin name yields
    /// its lowercase tokens sorted (`Wei ZHANG` → `wei zhang`) plus, when it is
    /// pinyin, every surname/given split (`zhangwei` → `wei zhang`).
    pub keys: Vec<String>,
}

/// Upper bound on the keys of each script part of a name (most common readings
/// come first and are kept), so a name full of heteronyms cannot blow up the
/// matcher's index.
const MAX_KEYS: usize = 32;

/// Two-character surnames (复姓), matched before single-character surnames.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "夏侯", "慕容", "尉迟", "长孙", "令狐",
    "公孙", "宇文", "澹台", "轩辕", "独孤", "南宫", "西门", "钟离", "万俟", "闻人", "赫连", "淳于",
    "申屠", "太叔", "公冶", "宗政", "濮阳", "单于", "呼延", "端木", "百里", "东郭", "拓跋", "司空",
    "公羊", "第五", "乐正", "段干", "亓官", "司寇", "仲孙", "巫马", "公西", "漆雕", "壤驷", "谷梁",
    "左丘", "梁丘", "东门", "子车", "颛孙", "羊舌", "微生", "公良", "夹谷", "宰父", "鲜于", "闾丘",
];

/// Characters whose reading as a surname differs from their most common
/// reading, with the surname reading(s). Applied to the surname only.
const SURNAME_READINGS: &[(&str, &[&str])] = &[
    ("单", &["shan"]),
    ("曾", &["zeng"]),
    ("区", &["ou"]),
    ("仇", &["qiu"]),
    ("解", &["xie"]),
    ("朴", &["piao"]),
    ("查", &["zha"]),
    ("盖", &["ge", "gai"]),
    ("乐", &["yue", "le"]),
    ("尉", &["wei", "yu"]),
    ("秘", &["bi"]),
    ("繁", &["po"]),
    ("种", &["chong"]),
    ("缪", &["miao"]),
    ("翟", &["zhai"]),
    ("召", &["shao"]),
    ("覃", &["qin", "tan"]),
    ("黑", &["he"]),
    ("员", &["yun"]),
    ("句", &["gou"]),
    ("长", &["chang"]),
    ("重", &["chong"]),
    ("纪", &["ji"]),
    ("任", &["ren"]),
    ("华", &["hua"]),
    ("燕", &["yan"]),
    ("宿", &["su"]),
    ("洗", &["xian"]),
    ("冼", &["xian"]),
    ("过", &["guo"]),
    ("藏", &["zang"]),
    ("万俟", &["moqi"]),
    ("尉迟", &["yuchi"]),
    ("单于", &["chanyu"]),
    ("长孙", &["zhangsun"]),
    ("澹台", &["tantai"]),
    ("乐正", &["yuezheng"]),
    ("亓官", &["qiguan"]),
];

/// Characters read more than one way in given names, with those readings,
/// the usual first (乐 le or yue, 长 chang or zhang). Every other character
/// is read its most common way only: the dictionary's rarer readings (明
/// meng, 娜 nuo, 家 gu, 强 jiang, 余 tu) are not how anyone spells a name,
/// and as keys they made different names meet (张晓明 and 张晓萌, 陈家明 and
/// 陈杰明).
const GIVEN_NAME_HETERONYMS: &[(char, &[&str])] = &[
    ('乐', &["le", "yue"]),
    ('长', &["chang", "zhang"]),
    ('行', &["xing", "hang"]),
    ('重', &["zhong", "chong"]),
    ('朝', &["chao", "zhao"]),
    ('传', &["chuan", "zhuan"]),
    ('觉', &["jue", "jiao"]),
    ('茜', &["qian", "xi"]),
    ('柏', &["bai", "bo"]),
    ('晟', &["sheng", "cheng"]),
    ('盛', &["sheng", "cheng"]),
    ('蔚', &["wei", "yu"]),
    ('单', &["dan", "shan"]),
    ('曾', &["zeng", "ceng"]),
    ('参', &["can", "shen"]),
    ('都', &["du", "dou"]),
    ('解', &["jie", "xie"]),
    ('奇', &["qi", "ji"]),
    ('会', &["hui", "kuai"]),
    ('降', &["jiang", "xiang"]),
    ('省', &["sheng", "xing"]),
    ('乘', &["cheng", "sheng"]),
    ('宿', &["su", "xiu"]),
    ('率', &["shuai", "lv"]),
    ('校', &["xiao", "jiao"]),
    ('查', &["cha", "zha"]),
    ('区', &["qu", "ou"]),
    ('仇', &["chou", "qiu"]),
    ('翟', &["zhai", "di"]),
    ('尉', &["wei", "yu"]),
    ('藏', &["cang", "zang"]),
];

/// The readings of `c` in a name: its listed ones in
/// [`GIVEN_NAME_HETERONYMS`], else its most common one. Empty for
/// characters without a reading (non-Han).
fn name_readings(c: char) -> Vec<&'static str> {
    match GIVEN_NAME_HETERONYMS
        .iter()
        .find(|(listed, _)| *listed == c)
    {
        Some((_, readings)) => readings.to_vec(),
        None => pinyin_reading(c).into_iter().collect(),
    }
}

/// Titles written after a Chinese name (`张伟先生`, `李总`, `李哥`). Longer
/// first so `总经理` is not read as `总`.
const HAN_TITLE_SUFFIXES: &[&str] = &[
    "董事长",
    "总经理",
    "先生",
    "女士",
    "小姐",
    "太太",
    "夫人",
    "老师",
    "师傅",
    "经理",
    "总监",
    "老板",
    "主任",
    "总",
    "教授",
    "医生",
    "律师",
    "博士",
    // Familiar kinship terms a sales rep writes after a surname (`李哥`).
    "大哥",
    "大姐",
    "哥",
    "姐",
];

/// Titles that are also common name characters, so taken as titles only
/// right after a bare surname: `刘工` (engineer), `陈董` (chairman).
const HAN_TITLES_AFTER_SURNAME: &[char] = &['工', '董'];

/// Familiar prefixes in front of a bare surname (`老王`, `小李`).
const HAN_FAMILIAR_PREFIXES: &[char] = &['老', '小'];

/// Latin honorifics dropped as whole tokens.
const LATIN_TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mme", "mlle", "herr", "frau",
];

/// Separators inside a Chinese name written in transliteration (`阿依古丽·买买提`).
fn is_name_dot(c: char) -> bool {
    matches!(c, '·' | '・' | '•' | '‧' | '.' | '。')
}

/// Every toneless syllable the pinyin data knows, derived from the readings of
/// the basic CJK block, for splitting `zhangwei` into `zhang` + `wei`.
static PINYIN_SYLLABLES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    (0x4E00..=0x9FFF)
        .filter_map(char::from_u32)
        .flat_map(pinyin_readings)
        // Vowel-less interjections (`m`, `ng`, `hm`) would let almost any
        // string split into "syllables".
        .filter(|s| s.bytes().all(|b| b.is_ascii_lowercase()))
        .filter(|s| s.bytes().any(|b| b"aeiouv".contains(&b)))
        .collect()
});

/// What systems and people write where no name is known: WeChat's default
/// nickname for a user who shared none (`微信用户`), "customer", "unknown",
/// "test". Compared whole, after folding; read as names they made every
/// such record agree with every other on the name.
const PLACEHOLDER_NAMES: &[&str] = &[
    "微信用户",
    "微信好友",
    "客户",
    "顾客",
    "用户",
    "会员",
    "游客",
    "访客",
    "匿名",
    "匿名用户",
    "未知",
    "无",
    "暂无",
    "无名",
    "测试",
    "test",
    "tester",
    "n/a",
    "null",
    "none",
    "unknown",
    "customer",
    "guest",
    "visitor",
    "anonymous",
    "user",
];

/// Longest text, in characters, still read as a person name; longer fields
/// hold notes or several people, and reading them would cost time for nothing.
const MAX_NAME_CHARS: usize = 100;

/// Normalizes a person name. Returns `None` when nothing name-like is left
/// (empty, digits, punctuation, emoji only) or the text is longer than
/// [`MAX_NAME_CHARS`].
pub fn normalize_person_name(raw: &str) -> Option<PersonName> {
    let folded = without_bracketed_notes(&fold(raw));
    if PLACEHOLDER_NAMES.contains(&folded.trim().to_lowercase().as_str()) {
        return None;
    }
    if folded.chars().nth(MAX_NAME_CHARS).is_some() {
        return None;
    }
    let han = surname_first(&folded);
    let latin = latin_part(&folded);
    let han_name = han_name(han.trim_matches(is_name_dot));
    let latin_name = latin_name(&latin);
    let (script, display) = match (&han_name, &latin_name) {
        (Some(h), None) => (Script::Han, h.display.clone()),
        (None, Some(l)) => (Script::Latin, l.display.clone()),
        (Some(h), Some(l)) => (Script::Mixed, format!("{} {}", h.display, l.display)),
        (None, None) => return None,
    };
    let mut keys: Vec<String> = Vec::new();
    let (mut surname, mut given_name) = (None, None);
    if let Some(latin) = latin_name {
        keys.extend(latin.keys);
        surname = latin.surname;
        given_name = latin.given_name;
    }
    // The Chinese part knows its surname better than a Latin part does.
    if let Some(han) = han_name {
        keys.extend(han.keys);
        surname = han.surname.or(surname);
        given_name = han.given_name.or(given_name);
    }
    keys.sort();
    keys.dedup();
    Some(PersonName {
        display,
        script,
        surname,
        given_name,
        keys,
    })
}

/// `text` without notes in brackets (`王伟(销售)`, `John Smith [sales]`,
/// `李娜【VIP】`), unless the brackets hold all of it.
fn without_bracketed_notes(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut closers: Vec<char> = Vec::new();
    for c in text.chars() {
        let closer = match c {
            '(' => Some(')'),
            '[' => Some(']'),
            '【' => Some('】'),
            '〔' => Some('〕'),
            '<' => Some('>'),
            _ => None,
        };
        if let Some(closer) = closer {
            closers.push(closer);
        } else if closers.last() == Some(&c) {
            closers.pop();
        } else if closers.is_empty() {
            kept.push(c);
        }
    }
    let kept = kept.trim();
    if kept.is_empty() {
        text.to_string()
    } else {
        kept.to_string()
    }
}

/// Similarity of two names in `0.0..=1.0`: the best normalized Levenshtein
/// similarity (counted per character, never per byte) over all pairs of their
/// keys, and over the Chinese display forms when both are Chinese, so that
/// `张伟强`/`张伟刚` differ by one character of three even where their pinyin
/// differs more.
pub fn name_similarity(a: &PersonName, b: &PersonName) -> f64 {
    let mut best: f64 = 0.0;
    for key_a in &a.keys {
        for key_b in &b.keys {
            best = best.max(strsim::normalized_levenshtein(key_a, key_b));
            if best == 1.0 {
                return best;
            }
        }
    }
    if a.script == Script::Han && b.script == Script::Han {
        best = best.max(strsim::normalized_levenshtein(&a.display, &b.display));
    }
    best
}

/// One script's half of a name.
struct NamePart {
    display: String,
    surname: Option<String>,
    given_name: Option<String>,
    keys: Vec<String>,
}

fn han_name(han: &str) -> Option<NamePart> {
    if han.is_empty() {
        return None;
    }
    if han.contains(is_name_dot) {
        return Some(transliterated_han_name(han));
    }
    let (name, surname_only) = strip_han_titles(han);
    let chars: Vec<char> = name.chars().collect();
    let surname_len = han_surname_len(name);
    // A bare surname: `李`, `司马`, or what a title left (`李总`).
    if surname_only || surname_len >= chars.len() {
        let keys = surname_readings(name);
        return Some(NamePart {
            display: name.to_string(),
            surname: Some(name.to_string()),
            given_name: None,
            keys,
        });
    }
    // Chinese names are 2–4 characters; longer runs are transliterations or
    // several names, where no surname can be told apart.
    if chars.len() > 4 {
        return Some(NamePart {
            display: name.to_string(),
            surname: None,
            given_name: None,
            keys: syllable_combinations(&chars, MAX_KEYS),
        });
    }
    let surname: String = chars[..surname_len].iter().collect();
    let given: Vec<char> = chars[surname_len..].to_vec();
    let given_readings = syllable_combinations(&given, MAX_KEYS);
    let mut keys = Vec::new();
    for surname_reading in surname_readings(&surname) {
        for given_reading in &given_readings {
            for surname_spelling in umlaut_spellings(&surname_reading) {
                for given_spelling in umlaut_spellings(given_reading) {
                    keys.push(two_part_key(&surname_spelling, &given_spelling));
                }
            }
        }
    }
    keys.truncate(MAX_KEYS);
    Some(NamePart {
        display: name.to_string(),
        surname: Some(surname),
        given_name: Some(given.iter().collect()),
        keys,
    })
}

/// `阿依古丽·买买提`: parts are kept whole, no surname is assumed.
fn transliterated_han_name(han: &str) -> NamePart {
    let parts: Vec<Vec<char>> = han
        .split(is_name_dot)
        .filter(|part| !part.is_empty())
        .map(|part| part.chars().collect())
        .collect();
    let display = parts
        .iter()
        .map(|part| part.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("·");
    let part_readings: Vec<Vec<String>> = parts
        .iter()
        .map(|part| syllable_combinations(part, 4))
        .collect();
    let mut keys: Vec<Vec<String>> = vec![Vec::new()];
    for readings in &part_readings {
        keys = keys
            .iter()
            .flat_map(|prefix| {
                readings.iter().map(move |reading| {
                    let mut next = prefix.clone();
                    next.push(reading.clone());
                    next
                })
            })
            .take(MAX_KEYS)
            .collect();
    }
    let keys = keys
        .into_iter()
        .map(|mut tokens| {
            tokens.sort();
            tokens.join(" ")
        })
        .collect();
    NamePart {
        display,
        surname: None,
        given_name: None,
        keys,
    }
}

/// Removes trailing titles and familiar prefixes; the flag tells whether what
/// is left is a bare surname (`李总` → `李`, `老王` → `王`).
fn strip_han_titles(han: &str) -> (&str, bool) {
    // `小姐`, `老师` alone are titles, not a familiar form of 姐/师.
    if HAN_TITLE_SUFFIXES.contains(&han) {
        return (han, false);
    }
    let mut name = han;
    let mut stripped_title = false;
    while let Some(rest) = HAN_TITLE_SUFFIXES
        .iter()
        .find_map(|title| name.strip_suffix(title).filter(|rest| !rest.is_empty()))
    {
        name = rest;
        stripped_title = true;
    }
    // What a title left may be a title too (`先生小姐`).
    if HAN_TITLE_SUFFIXES.contains(&name) {
        return (name, false);
    }
    let mut chars = name.chars();
    if let (Some(first), Some(_), None) = (chars.next(), chars.next(), chars.next()) {
        if HAN_FAMILIAR_PREFIXES.contains(&first) {
            return (&name[first.len_utf8()..], true);
        }
    }
    if let Some(title) = name.chars().last() {
        let rest = &name[..name.len() - title.len_utf8()];
        if HAN_TITLES_AFTER_SURNAME.contains(&title)
            && !rest.is_empty()
            && han_surname_len(rest) == rest.chars().count()
        {
            return (rest, true);
        }
    }
    let surname_only = stripped_title && han_surname_len(name) == name.chars().count();
    (name, surname_only)
}

/// Number of characters of the surname at the start of `name`: 2 for a
/// compound surname, else 1.
fn han_surname_len(name: &str) -> usize {
    let compound = name.chars().count() > 1
        && COMPOUND_SURNAMES
            .iter()
            .any(|surname| name.starts_with(surname));
    if compound {
        2
    } else {
        1
    }
}

/// The Chinese characters of a name (and transliteration dots), surname
/// first. Western forms write a Chinese name given name first with a space
/// (`一鸣 张`, from first and last name fields); when the first of two
/// words is not a whole surname and the second is, the words are swapped,
/// so `一鸣 张` reads as `张一鸣`, not as surname `一`.
fn surname_first(folded: &str) -> String {
    let words: Vec<String> = folded
        .split(|c: char| !(is_han(c) || is_name_dot(c)))
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect();
    let whole_surname = |word: &str| {
        let chars = word.chars().count();
        chars == 1 || (chars == 2 && han_surname_len(word) == 2)
    };
    match words.as_slice() {
        [given, surname]
            if !given.contains(is_name_dot) && !whole_surname(given) && whole_surname(surname) =>
        {
            format!("{surname}{given}")
        }
        _ => words.concat(),
    }
}

/// Readings of a surname: its surname reading where that differs from the
/// common one, else the name readings of its characters (王 is wang, never
/// the dictionary's rare yu, which made 王伟 meet 余伟).
fn surname_readings(surname: &str) -> Vec<String> {
    if let Some((_, readings)) = SURNAME_READINGS.iter().find(|(s, _)| *s == surname) {
        return readings.iter().map(|r| r.to_string()).collect();
    }
    let chars: Vec<char> = surname.chars().collect();
    syllable_combinations(&chars, MAX_KEYS)
}

/// The name readings of `chars` ([`name_readings`]) joined together,
/// heteronyms multiplied out in order, at most `limit` of them. Characters
/// without a reading are skipped.
fn syllable_combinations(chars: &[char], limit: usize) -> Vec<String> {
    let mut combinations = vec![String::new()];
    for &c in chars {
        let readings = name_readings(c);
        if readings.is_empty() {
            continue;
        }
        combinations = combinations
            .iter()
            .flat_map(|prefix| {
                readings
                    .iter()
                    .map(move |reading| format!("{prefix}{reading}"))
            })
            .take(limit)
            .collect();
    }
    combinations.retain(|c| !c.is_empty());
    combinations
}

/// A pinyin string with `v` (ü) as every Latin spelling of it (`lv` → `lv`,
/// `lyu`, `lu`); a string without `v` as itself.
fn umlaut_spellings(pinyin: &str) -> Vec<String> {
    if pinyin.contains('v') {
        PINYIN_U_UMLAUT_SPELLINGS
            .iter()
            .map(|spelling| pinyin.replace('v', spelling))
            .collect()
    } else {
        vec![pinyin.to_string()]
    }
}

fn two_part_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}

/// The Latin letters of `folded` with accents removed, as lowercase tokens
/// separated by single spaces; `,` is kept as its own token because it marks
/// `Surname, Given`. Hyphens and apostrophes join (`Xiao-Ming` → `xiaoming`).
fn latin_part(folded: &str) -> String {
    let mut text = String::new();
    for c in strip_accents_lowercase(folded).chars() {
        if c.is_alphabetic() && !is_han(c) && !is_combining_mark(c) {
            text.push(c);
        } else if c == ',' {
            text.push_str(" , ");
        } else if c == '-' || c == '\'' || c == '’' {
            continue;
        } else if !text.ends_with(' ') {
            text.push(' ');
        }
    }
    text
}

fn latin_name(latin: &str) -> Option<NamePart> {
    let mut tokens: Vec<&str> = latin
        .split(' ')
        .filter(|token| !token.is_empty() && !LATIN_TITLES.contains(token))
        .collect();
    let comma = tokens.iter().position(|token| *token == ",");
    let mut surname = None;
    let mut given_name = None;
    if let Some(comma) = comma {
        let (before, after) = (&tokens[..comma], &tokens[comma + 1..]);
        let after: Vec<&str> = after.iter().copied().filter(|t| *t != ",").collect();
        if !before.is_empty() && !after.is_empty() {
            surname = Some(before.join(" "));
            given_name = Some(after.join(" "));
        }
    }
    tokens.retain(|token| *token != ",");
    if tokens.is_empty() {
        return None;
    }
    let mut keys = vec![sorted_tokens(&tokens)];
    if tokens.iter().all(|token| is_pinyin(token)) {
        keys.extend(pinyin_token_keys(&tokens));
        keys.truncate(MAX_KEYS);
    }
    let display = match (&surname, &given_name) {
        (Some(surname), Some(given)) => format!("{surname}, {given}"),
        _ => tokens.join(" "),
    };
    Some(NamePart {
        display,
        surname,
        given_name,
        keys,
    })
}

fn sorted_tokens(tokens: &[&str]) -> String {
    let mut sorted = tokens.to_vec();
    sorted.sort_unstable();
    sorted.join(" ")
}

/// Surname/given splits of a pinyin name: within a single token at every
/// syllable boundary (`zhangwei`, `weizhang`), between the first or last token
/// and the rest for three or more tokens (`Xiao Ming Zhang`).
fn pinyin_token_keys(tokens: &[&str]) -> Vec<String> {
    let mut keys = Vec::new();
    match tokens {
        [single] => {
            for boundary in syllable_boundaries(single) {
                let (a, b) = single.split_at(boundary);
                if is_pinyin(a) && is_pinyin(b) {
                    keys.push(two_part_key(a, b));
                }
            }
        }
        [_, _] => {}
        [first, rest @ ..] => {
            keys.push(two_part_key(first, &rest.concat()));
            if let Some((last, init)) = tokens.split_last() {
                keys.push(two_part_key(last, &init.concat()));
            }
        }
        [] => {}
    }
    keys
}

/// Byte offsets inside `token` where a pinyin syllable can end with a whole
/// syllable sequence before it.
fn syllable_boundaries(token: &str) -> Vec<usize> {
    let reachable = segmentable_prefixes(token);
    (1..token.len()).filter(|&i| reachable[i]).collect()
}

/// `reachable[i]` is true when `token[..i]` splits into pinyin syllables.
fn segmentable_prefixes(token: &str) -> Vec<bool> {
    let syllables = &*PINYIN_SYLLABLES;
    let mut reachable = vec![false; token.len() + 1];
    reachable[0] = true;
    // Toneless syllables are 1–6 ASCII letters (`zhuang`).
    for end in 1..=token.len() {
        reachable[end] = (end.saturating_sub(6)..end).any(|start| {
            reachable[start]
                && token
                    .get(start..end)
                    .is_some_and(|s| syllables.contains(s) || is_umlaut_spelling(s))
        });
    }
    reachable
}

/// `lyu`, `nyu`, `lyue`, `nyue`: the passport spellings of the only pinyin
/// syllables with `ü` (`lv`, `nv`, `lve`, `nve`).
fn is_umlaut_spelling(text: &str) -> bool {
    matches!(text, "lyu" | "nyu" | "lyue" | "nyue")
}

/// True when `token` splits completely into pinyin syllables.
fn is_pinyin(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_lowercase())
        && segmentable_prefixes(token)[token.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(raw: &str) -> PersonName {
        normalize_person_name(raw).unwrap_or_else(|| panic!("{raw:?} rejected"))
    }

    fn same_name(a: &str, b: &str) -> bool {
        let (a, b) = (name(a), name(b));
        a.keys.iter().any(|key| b.keys.contains(key))
    }

    #[test]
    fn cleans_display_form_and_script() {
        let cases = [
            ("張偉", "张伟", Script::Han),
            ("  张伟先生 ", "张伟", Script::Han),
            ("ＺＨＡＮＧ　Ｗｅｉ", "zhang wei", Script::Latin),
            ("José  García", "jose garcia", Script::Latin),
            ("Mr. John Smith", "john smith", Script::Latin),
            ("Smith,  John", "smith, john", Script::Latin),
            ("张伟 David", "张伟 david", Script::Mixed),
            ("张伟🌸", "张伟", Script::Han),
            ("阿依古丽·买买提", "阿依古丽·买买提", Script::Han),
        ];
        for (input, display, script) in cases {
            let n = name(input);
            assert_eq!(
                (n.display.as_str(), n.script),
                (display, script),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_text_without_a_name() {
        for input in [
            "",
            "   ",
            "123",
            "🌸🌸",
            "--",
            "先生",
            "微信用户",
            "N/A",
            "Unknown",
            "客户",
            "测试",
        ] {
            let result = normalize_person_name(input);
            // A bare title is not stripped to nothing; it stays as the name.
            if input == "先生" {
                assert_eq!(result.map(|n| n.display), Some("先生".to_string()));
            } else {
                assert_eq!(result, None, "{input:?}");
            }
        }
    }

    #[test]
    fn splits_surname_and_given_name() {
        let cases = [
            ("张伟", Some("张"), Some("伟")),
            ("欧阳锋", Some("欧阳"), Some("锋")),
            ("司马相如", Some("司马"), Some("相如")),
            ("诸葛亮", Some("诸葛"), Some("亮")),
            ("李总", Some("李"), None),
            ("王经理", Some("王"), None),
            ("老王", Some("王"), None),
            ("小李", Some("李"), None),
            ("王小姐", Some("王"), None),
            ("李哥", Some("李"), None),
            ("张大姐", Some("张"), None),
            ("王芳姐", Some("王"), Some("芳")),
            ("曾总", Some("曾"), None),
            ("刘工", Some("刘"), None),
            ("陈董", Some("陈"), None),
            ("王伟（销售）", Some("王"), Some("伟")),
            ("王伟(采购)", Some("王"), Some("伟")),
            ("张教授", Some("张"), None),
            ("司马总", Some("司马"), None),
            ("司马", Some("司马"), None),
            ("小姐", Some("小"), Some("姐")),
            ("张伟女士", Some("张"), Some("伟")),
            // Given name first, as first and last name fields give it.
            ("一鸣 张", Some("张"), Some("一鸣")),
            ("娜娜 欧阳", Some("欧阳"), Some("娜娜")),
            ("张 一鸣", Some("张"), Some("一鸣")),
            ("欧阳 娜娜", Some("欧阳"), Some("娜娜")),
            ("Smith, John", Some("smith"), Some("john")),
            ("John Smith", None, None),
        ];
        for (input, surname, given) in cases {
            let n = name(input);
            assert_eq!(
                (n.surname.as_deref(), n.given_name.as_deref()),
                (surname, given),
                "{input:?}"
            );
        }
    }

    #[test]
    fn chinese_name_meets_latin_forms_in_any_order() {
        for latin in [
            "Zhang Wei",
            "Wei Zhang",
            "ZHANG wei",
            "zhangwei",
            "weizhang",
            "Zhang, Wei",
            "張偉",
        ] {
            assert!(same_name("张伟", latin), "{latin:?}");
        }
        assert!(same_name("张晓明", "Xiaoming Zhang"));
        assert!(same_name("张晓明", "Zhang Xiao Ming"));
        assert!(same_name("张晓明", "Xiao-Ming ZHANG"));
        assert!(same_name("欧阳锋", "Ouyang Feng"));
        assert!(same_name("张一鸣", "一鸣 张"));
        assert!(same_name("吴诗华", "诗华 吴"));
        assert!(same_name("欧阳锋", "Feng Ou Yang"));
        assert!(same_name("阿依古丽·买买提", "Maimaiti Ayiguli"));
        assert!(!same_name("张伟", "Zhang Wen"));
        assert!(!same_name("张伟", "Wang Wei"));
    }

    #[test]
    fn surnames_are_read_as_surnames() {
        let cases = [
            ("单雄信", "Shan Xiongxin"),
            ("曾国藩", "Zeng Guofan"),
            ("区家明", "Ou Jiaming"),
            ("仇英", "Qiu Ying"),
            ("解缙", "Xie Jin"),
            ("朴志成", "Piao Zhicheng"),
            ("尉迟恭", "Yuchi Gong"),
            ("吕布", "Lv Bu"),
            ("吕布", "Lyu Bu"),
            ("吕布", "Lü Bu"),
        ];
        for (han, latin) in cases {
            assert!(same_name(han, latin), "{han} vs {latin}");
        }
        // The common reading of 单 is not used for the surname.
        assert!(!same_name("单雄信", "Dan Xiongxin"));
    }

    #[test]
    fn given_name_heteronyms_yield_several_keys() {
        // 乐 in a given name: le or yue; 长 in a given name: chang or zhang.
        assert!(same_name("王乐", "Wang Le"));
        assert!(same_name("王乐", "Wang Yue"));
        assert!(same_name("李长风", "Li Changfeng"));
        assert!(same_name("李长风", "Li Zhangfeng"));
    }

    #[test]
    fn rare_dictionary_readings_make_no_keys() {
        // Common surnames and given-name characters, read only the way
        // names are: different names stay apart.
        for (a, b) in [
            ("王伟", "余伟"),
            ("王伟", "Yu Wei"),
            ("沈伟", "陈伟"),
            ("陆伟", "刘伟"),
            ("叶伟", "谢伟"),
            ("贾伟", "顾伟"),
            ("石磊", "Dan Lei"),
            ("张晓明", "张晓萌"),
            ("李娜", "李诺"),
            ("陈家明", "陈杰明"),
            ("余志强", "Yu Zhijiang"),
        ] {
            assert!(!same_name(a, b), "{a} vs {b}");
        }
        // Homophones still meet: one spelling, two characters.
        assert!(same_name("王伟", "汪伟"));
        assert!(same_name("余志强", "Yu Zhiqiang"));
        assert!(same_name("沈伟", "Shen Wei"));
    }

    #[test]
    fn latin_names_are_order_and_accent_independent() {
        assert!(same_name("John Smith", "SMITH John"));
        assert!(same_name("Smith, John", "john smith"));
        assert!(same_name("José García", "garcia jose"));
        assert!(same_name("Dr. Anna-Lena Meyer", "Meyer Annalena"));
        assert!(!same_name("John Smith", "Jon Smith"));
    }

    #[test]
    fn rejects_long_text_quickly() {
        let start = std::time::Instant::now();
        assert_eq!(normalize_person_name(&"zhang".repeat(20_000)), None);
        assert_eq!(normalize_person_name(&"张".repeat(20_000)), None);
        let longest = "zhang".repeat(MAX_NAME_CHARS / 5);
        assert!(normalize_person_name(&longest).is_some());
        // Quadratic work on this input would take minutes.
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn similarity_counts_characters() {
        let sim = |a: &str, b: &str| name_similarity(&name(a), &name(b));
        assert_eq!(sim("张伟", "Wei Zhang"), 1.0);
        assert_eq!(sim("张伟强", "张伟强"), 1.0);
        // Homophones share their pinyin key.
        assert_eq!(sim("张伟强", "张伟蔷"), 1.0);
        // One syllable differs: `weiqiang zhang` vs `weigang zhang`, 2 of 14.
        let one_off = sim("张伟强", "张伟刚");
        assert!((one_off - 12.0 / 14.0).abs() < 1e-9, "{one_off}");
        let typo = sim("John Smith", "Jon Smith");
        assert!((typo - 0.9).abs() < 1e-9, "{typo}");
        assert!(sim("张伟", "Maria Lopez") < 0.5);
    }

    fn han_name_strategy() -> impl Strategy<Value = (String, String)> {
        let surnames =
            prop::sample::select(vec!["张", "王", "李", "刘", "陈", "欧阳", "司马", "黄"]);
        let given = prop::collection::vec(
            prop::sample::select(vec![
                '伟', '芳', '娜', '敏', '静', '磊', '洋', '勇', '军', '杰', '涛', '明', '霞', '平',
                '刚',
            ]),
            1..=2,
        );
        (surnames, given).prop_map(|(s, g)| (s.to_string(), g.into_iter().collect()))
    }

    fn pinyin_of(han: &str) -> String {
        han.chars()
            .filter_map(super::super::chinese::pinyin_reading)
            .collect()
    }

    fn capitalize(text: &str) -> String {
        let mut chars = text.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            if let Some(n) = normalize_person_name(&raw) {
                let _ = name_similarity(&n, &n);
            }
        }

        #[test]
        fn idempotent(raw in any::<String>()) {
            if let Some(first) = normalize_person_name(&raw) {
                let again = normalize_person_name(&first.display);
                prop_assert_eq!(again, Some(first.clone()), "raw: {:?}", raw);
            }
        }

        #[test]
        fn idempotent_on_names(raw in "[张王李欧阳司马单曾先生总老小姐 a-zA-Z,.·]{0,12}") {
            if let Some(first) = normalize_person_name(&raw) {
                let again = normalize_person_name(&first.display);
                prop_assert_eq!(again, Some(first.clone()), "raw: {:?}", raw);
            }
        }

        #[test]
        fn order_and_script_invariance((surname, given) in han_name_strategy(), order in 0..5usize) {
            let (s, g) = (pinyin_of(&surname), pinyin_of(&given));
            let latin = match order {
                0 => format!("{} {}", capitalize(&s), capitalize(&g)),
                1 => format!("{} {}", capitalize(&g), capitalize(&s)),
                2 => format!("{} {}", s.to_uppercase(), g),
                3 => format!("{s}{g}"),
                _ => format!("{g}{s}"),
            };
            let han = format!("{surname}{given}");
            prop_assert!(same_name(&han, &latin), "{} vs {}", han, latin);
            prop_assert_eq!(name_similarity(&name(&han), &name(&latin)), 1.0);
        }
    }
}
