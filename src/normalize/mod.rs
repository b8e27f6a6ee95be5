//! Canonical value forms used for identity matching.
//!
//! Every connector delivers contact data the way its users typed it: full-width
//! digits from Chinese input methods, `+86`/`0086`/IP-dial prefixes, display
//! names around e-mail addresses, several numbers crammed into one field. Record
//! resolution compares values by equality, so before anything is matched each
//! value is reduced to one canonical form:
//!
//! * phones become E.164 strings (`+8613800138000`) with the line kind and any
//!   extension kept beside, never inside, the number ([`phone`]);
//! * e-mail addresses become trimmed, lowercase `local@domain` strings, with a
//!   separate, more aggressive match key for provider-specific aliases ([`email`]);
//! * person names get order-independent pinyin/token keys, so `张伟`, `Zhang Wei`
//!   and `WEI ZHANG` meet, and a per-character similarity ([`name`]);
//! * company names are split into brand, place, trade words and legal form,
//!   with a branch flag and a blocking key ([`company`]);
//! * addresses give their province and city as GB/T 2260 short names
//!   (`北京市` = `北京` = `Beijing`) ([`address`]);
//! * strong identifiers (统一社会信用代码, organization code, old tax id, WeChat
//!   unionid) are accepted only when their structure and check character hold
//!   ([`ids`]); [`chinese`] holds the script helpers they share;
//! * order numbers keep only their letters and digits, so an ERP's `1001`
//!   meets the web shop's `#1001` ([`order`]).
//!
//! All functions here are pure: no I/O, and they return `None` (or an empty
//! list) rather than panicking on malformed input, because source data is never
//! trusted. The only global state is read-only lookup tables (traditional →
//! simplified, regions, pinyin syllables) built once on first use.

pub mod address;
pub mod chinese;
pub mod company;
pub mod email;
pub mod ids;
pub mod name;
pub mod order;
pub mod phone;
