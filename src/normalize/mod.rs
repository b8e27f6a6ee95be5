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
//!   separate, more aggressive match key for provider-specific aliases ([`email`]).
//!
//! All functions here are pure: no I/O, no global state, and they return `None`
//! (or an empty list) rather than panicking on malformed input, because source
//! data is never trusted.

pub mod address;
pub mod chinese;
pub mod company;
pub mod email;
pub mod ids;
pub mod name;
pub mod phone;
