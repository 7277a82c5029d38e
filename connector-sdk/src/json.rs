//! Reading an upstream's JSON answers without losing anything.
//!
//! Records are passed on as the upstream wrote them: the raw JSON text of each
//! object, only with insignificant whitespace removed (so a record is one
//! line). Nothing goes through a typed struct or `serde_json::Value`, so
//! unknown fields, `null`s, key order and large numbers survive unchanged.
//! A body that is not the expected shape is a `bad-response`, never an
//! empty or last page.
//!
//! The keys the connector adds to a record ([`with_keys`]) are appended to
//! that raw text, before its closing brace, and only when the object lacks
//! them: the rest of the object is never re-serialised.
//!
//! Every record goes through here, so each is read as few times as the
//! checks allow: a page is parsed once (its items as raw text), each item
//! is made compact in one byte scan that also flags what ordinary parsers
//! might refuse (the full check then runs on those only), and its
//! top-level fields are split by a second byte scan, into a list rather
//! than a map.

use crate::error::ConnectorError;
use serde_json::value::RawValue;
use std::borrow::Cow;

fn bad(msg: String) -> ConnectorError {
    ConnectorError::BadResponse(msg)
}

/// Where a scan of JSON text is: inside a string or not, and whether the
/// previous byte was an escaping `\`. The one state machine behind
/// [`minify`] and its compile-time twin.
#[derive(Clone, Copy)]
struct Scan {
    in_string: bool,
    escaped: bool,
}

impl Scan {
    const START: Scan = Scan {
        in_string: false,
        escaped: false,
    };

    /// Takes the next byte; whether it is kept (not whitespace outside a
    /// string). Multi-byte UTF-8 sequences hold no ASCII byte, so a byte
    /// scan keeps exactly what a `char` scan would.
    const fn keeps(&mut self, c: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if c == b'\\' {
                self.escaped = true;
            } else if c == b'"' {
                self.in_string = false;
            }
        } else if c == b'"' {
            self.in_string = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            return false;
        }
        true
    }
}

/// Digits in a row past which a number may not fit a double.
const LONG_NUMBER: usize = 19;
/// Nesting past which a parser's depth limit may refuse a value.
const DEEP: usize = 100;

/// What [`split`] noticed about a record's text.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// Whitespace outside strings: [`minify`] makes the record one line.
    spaced: bool,
    /// What ordinary parsers may refuse although its grammar is valid (see
    /// [`readable`]): an escaped surrogate (`\\uD800` to `\\uDFFF`), a
    /// number with an exponent or more than [`LONG_NUMBER`] digits, nesting
    /// deeper than [`DEEP`]. Text without any of them is read by them, so
    /// the full check runs on flagged records only. Conservative: a
    /// literal backslash followed by `ud…` is flagged too.
    suspect: bool,
    /// Escapes seen so far (a name without one is borrowed as it is).
    escapes: u32,
}

/// The index of the `"` that closes the string whose opening quote is at
/// `open` in JSON text (`None` when it is not closed), noting a possible
/// escaped surrogate in `flags`. Record strings are short, ids and
/// timestamps mostly: a plain scan beats `memchr`'s setup on them.
fn string_end_flagged(b: &[u8], open: usize, flags: &mut Flags) -> Option<usize> {
    let mut i = open + 1;
    loop {
        i = skip_plain(b, i);
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' => {
                if b.get(i + 1) == Some(&b'u') && matches!(b.get(i + 2), Some(b'd' | b'D')) {
                    flags.suspect = true;
                }
                flags.escapes += 1;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// The index of the first `"` or `\\` at or after `i` (or the length):
/// eight bytes at a time while there is none among them.
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Nonzero when some byte of `w` is `n` (the classic zero-byte test).
    let holds = |w: u64, n: u8| {
        let x = w ^ (ONES * u64::from(n));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if holds(w, b'"') | holds(w, b'\\') != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// Splits a record (the text of a JSON object whose grammar was checked)
/// into its top-level fields in one scan, noting [`Flags`] as it goes;
/// `None` if it is not an object.
fn split(item: &str) -> Option<(Fields<'_>, Flags)> {
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let b = item.as_bytes();
    let mut flags = Flags::default();
    let mut i = b.iter().position(|&c| !is_space(c))?;
    flags.spaced = i > 0;
    if b[i] != b'{' {
        return None;
    }
    i += 1;
    let mut list = Vec::new();
    let skip_space = |i: &mut usize, flags: &mut Flags| {
        while *i < b.len() && is_space(b[*i]) {
            flags.spaced = true;
            *i += 1;
        }
    };
    loop {
        // A name, or the end of an empty object.
        skip_space(&mut i, &mut flags);
        match b.get(i) {
            Some(b'}') if list.is_empty() => break,
            Some(b'"') => {}
            _ => return None,
        }
        let escapes = flags.escapes;
        let end = string_end_flagged(b, i, &mut flags)?;
        let raw_name = &item[i..=end];
        let name: Cow<'_, str> = if flags.escapes > escapes {
            Cow::Owned(serde_json::from_str::<String>(raw_name).ok()?)
        } else {
            Cow::Borrowed(&raw_name[1..raw_name.len() - 1])
        };
        i = end + 1;
        skip_space(&mut i, &mut flags);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        skip_space(&mut i, &mut flags);
        // The value: up to the `,` or `}` at this depth.
        let start = i;
        let (mut depth, mut digits, mut last) = (0usize, 0usize, i);
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    i = string_end_flagged(b, i, &mut flags)?;
                    last = i;
                }
                b'{' | b'[' => {
                    depth += 1;
                    flags.suspect |= depth > DEEP;
                    last = i;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    last = i;
                }
                b',' | b'}' if depth == 0 => break,
                b' ' | b'\t' | b'\n' | b'\r' => flags.spaced = true,
                b'0'..=b'9' => {
                    digits += 1;
                    flags.suspect |= digits > LONG_NUMBER;
                    last = i;
                    i += 1;
                    continue;
                }
                b'e' | b'E' if digits > 0 || b[i - 1] == b'.' => {
                    flags.suspect = true;
                    last = i;
                }
                _ => last = i,
            }
            digits = 0;
            i += 1;
        }
        if i >= b.len() || last < start {
            return None;
        }
        list.push((name, &item[start..=last]));
        if b[i] == b'}' {
            break;
        }
        i += 1;
    }
    flags.spaced |= i + 1 < b.len();
    Some((Fields { list }, flags))
}

/// Removes whitespace outside strings from valid JSON text.
pub fn minify(raw: &str) -> String {
    let mut scan = Scan::START;
    let mut kept = Vec::with_capacity(raw.len());
    kept.extend(raw.bytes().filter(|&c| scan.keeps(c)));
    String::from_utf8(kept).expect("only ASCII whitespace is removed")
}

/// [`minify`] at compile time: the length of its result, and the result
/// written to `out` when given.
const fn minify_bytes(raw: &str, mut out: Option<&mut [u8]>) -> usize {
    let (b, mut i, mut n) = (raw.as_bytes(), 0, 0);
    let mut scan = Scan::START;
    while i < b.len() {
        if scan.keeps(b[i]) {
            if let Some(out) = &mut out {
                out[n] = b[i];
            }
            n += 1;
        }
        i += 1;
    }
    n
}

/// [`minify`] at compile time, for text the component ships (the
/// schemas): `N` must be [`minified_len`] of `raw`.
pub const fn minify_const<const N: usize>(raw: &str) -> [u8; N] {
    let mut out = [0u8; N];
    minify_bytes(raw, Some(&mut out));
    out
}

/// The length of [`minify`]'s result, at compile time.
pub const fn minified_len(raw: &str) -> usize {
    minify_bytes(raw, None)
}

// Exported at the crate's root under a hidden name, and re-exported here
// as `json::minified!`, where a connector looks for it.
#[doc(hidden)]
#[macro_export]
macro_rules! __json_minified {
    ($raw:expr) => {{
        const RAW: &str = $raw;
        const LEN: usize = $crate::json::minified_len(RAW);
        const BYTES: [u8; LEN] = $crate::json::minify_const::<LEN>(RAW);
        match ::core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("minified JSON is not UTF-8"),
        }
    }};
}
/// A JSON literal minified at compile time (so the component stores no
/// indentation), as a `&'static str`: for the text a connector ships, such
/// as its record schemas.
pub use crate::__json_minified as minified;

fn text<'a>(body: &'a [u8], what: &str) -> Result<&'a str, ConnectorError> {
    std::str::from_utf8(body).map_err(|_| bad(format!("the answer for {what} is not UTF-8 text")))
}

fn not_json(what: &str, e: serde_json::Error) -> ConnectorError {
    let hint = if e.is_eof() { "; it looks cut off" } else { "" };
    bad(format!(
        "the answer for {what} is not valid JSON ({e}){hint}"
    ))
}

/// A body that must be valid JSON (UTF-8 text), as raw JSON.
fn json_body<'a>(body: &'a [u8], what: &str) -> Result<&'a RawValue, ConnectorError> {
    serde_json::from_str(text(body, what)?).map_err(|e| not_json(what, e))
}

/// A body that must be one JSON object, as raw JSON.
fn object_body<'a>(body: &'a [u8], what: &str) -> Result<&'a RawValue, ConnectorError> {
    let raw = json_body(body, what)?;
    if !raw.get().starts_with('{') {
        return Err(bad(format!("the answer for {what} is not a JSON object")));
    }
    Ok(raw)
}

/// The items of a list in the answer for `what`, which must all be JSON
/// objects, as records.
fn records<'a>(items: &[&'a RawValue], what: &str) -> Result<Vec<Record<'a>>, ConnectorError> {
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            if !raw.get().starts_with('{') {
                return Err(bad(format!(
                    "item {i} in the answer for {what} is not a JSON object"
                )));
            }
            checked(raw, || format!("item {i} in the answer for {what}"))
        })
        .collect()
}

/// One record: its compact text, and its top-level fields (borrowed from
/// the answer it came in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The object's compact text, as the upstream wrote it.
    pub text: String,
    /// Its top-level fields.
    pub fields: Fields<'a>,
}

/// A record equals its text.
impl PartialEq<String> for Record<'_> {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl PartialEq<&str> for Record<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// `raw` (an object of a valid answer) as a record, checked [`readable`]
/// where [`split`] flags it: one scan for nearly every record.
fn checked<'a>(raw: &'a RawValue, what: impl Fn() -> String) -> Result<Record<'a>, ConnectorError> {
    let text = raw.get();
    let Some((fields, flags)) = split(text) else {
        // A name the split cannot read (an unpaired surrogate, say) is
        // what the full check names.
        readable(raw, &what)?;
        return Err(bad(format!("{} is not a JSON object", what())));
    };
    if flags.suspect {
        readable(raw, &what)?;
    }
    let text = if flags.spaced {
        minify(text)
    } else {
        text.to_string()
    };
    Ok(Record { text, fields })
}

/// Checks that ordinary JSON parsers read `raw`. The raw scan behind
/// [`RawValue`] checks only the grammar, which lets through numbers beyond
/// the range of a double (`1e400`) and unpaired surrogate escapes
/// (`"\ud800"`): valid JSON text that the host and most consumers refuse.
/// Refused here, such a record is a `bad-response` naming the upstream
/// answer, rather than a record that fails later and looks like the
/// connector's fault.
fn readable(raw: &RawValue, what: &impl Fn() -> String) -> Result<(), ConnectorError> {
    use serde::de::DeserializeSeed;
    let mut parser = serde_json::Deserializer::from_str(raw.get());
    Readable
        .deserialize(&mut parser)
        .and_then(|()| parser.end())
        .map_err(|e| bad(format!("{} holds JSON that parsers refuse ({e})", what())))
}

/// Reads a JSON value as `serde_json::Value` would, refusing what it
/// refuses (numbers beyond a double, unpaired surrogates, nesting deeper
/// than 128), without building it: no allocation per field or string. It
/// runs on every record, so it must cost little beside the upstream.
struct Readable;

impl<'de> serde::de::DeserializeSeed<'de> for Readable {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Readable {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Readable)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Readable)?.is_some() {
            map.next_value_seed(Readable)?;
        }
        Ok(())
    }
}

/// The fields of a JSON object body, each as raw JSON.
pub fn object<'a>(body: &'a [u8], what: &str) -> Result<Fields<'a>, ConnectorError> {
    let raw = object_body(body, what)?;
    fields(raw.get(), what)
}

/// A body that must be one JSON object, as a record.
pub fn record<'a>(body: &'a [u8], what: &str) -> Result<Record<'a>, ConnectorError> {
    let raw = object_body(body, what)?;
    checked(raw, || format!("the answer for {what}"))
}

/// A string field of an object, if present and a string.
pub fn string_field(fields: &Fields<'_>, name: &str) -> Option<String> {
    let raw = fields.get(name)?;
    // Most strings hold no escape: their text is between the quotes.
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Some(inner.to_string()),
        _ => serde_json::from_str::<String>(raw).ok(),
    }
}

/// The top-level fields of one record (valid JSON object text, such as a
/// record from [`list_page`], [`record`] or [`array()`]), each as raw JSON
/// text, in order. A list: records have a few dozen fields at most, and
/// are split on every page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    list: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Fields<'a> {
    /// The raw value of field `name`; the last one when it is repeated (as
    /// parsers that keep one do).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.list
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// Whether the object has a field `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.list.iter().any(|(k, _)| k == name)
    }

    /// Whether the object has no field.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The field names, in order (an escaped name as its text).
    pub fn keys(&self) -> impl Iterator<Item = &Cow<'a, str>> {
        self.list.iter().map(|(k, _)| k)
    }
}

/// Splits a record (valid JSON text) into its top-level fields (see
/// `split`): names are borrowed from the text (copied only when they hold
/// an escape), values are their raw text. `what` names the list, for
/// messages.
pub fn fields<'a>(item: &'a str, what: &str) -> Result<Fields<'a>, ConnectorError> {
    split(item).map(|(fields, _)| fields).ok_or_else(|| {
        bad(format!(
            "an item in the answer for {what} is not a JSON object"
        ))
    })
}

/// A non-negative integer field (e.g. a job number), if present as one.
pub fn u64_field(fields: &Fields<'_>, name: &str) -> Option<u64> {
    fields.get(name).and_then(|raw| raw.parse().ok())
}

/// The raw JSON text of a field, if present.
pub fn raw_field<'a>(fields: &Fields<'a>, name: &str) -> Option<&'a str> {
    fields.get(name)
}

/// A JSON string literal (quoted and escaped).
pub fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

/// `record` (compact object text, `fields` its fields) with each of `keys`
/// (name, JSON value text) appended at the end, in order, unless the object
/// already has that key. Nothing else of the text changes.
pub fn with_keys(record: &str, fields: &Fields<'_>, keys: &[(&str, String)]) -> String {
    let mut out = record.trim_end().to_string();
    let Some(last) = out.pop() else {
        return out;
    };
    debug_assert_eq!(last, '}');
    let mut empty = fields.is_empty();
    for (name, value) in keys {
        if fields.contains_key(name) {
            continue;
        }
        if !empty {
            out.push(',');
        }
        empty = false;
        out.push_str(&string(name));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// A body that must be a bare JSON array of objects (`/me/collaborations`),
/// as records.
pub fn array<'a>(body: &'a [u8], what: &str) -> Result<Vec<Record<'a>>, ConnectorError> {
    let items: Vec<&RawValue> = serde_json::from_str(json_body(body, what)?.get())
        .map_err(|_| bad(format!("the answer for {what} is not a JSON list")))?;
    records(&items, what)
}

/// One page of a paged list: its items and the token of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<'a> {
    /// The items, each a JSON object.
    pub items: Vec<Record<'a>>,
    /// `None` on the last page. An empty token also ends the list, since
    /// sending it back would restart from the first page.
    pub next: Option<String>,
}

/// Parses a paged-list body: a whole JSON object with a list of objects
/// under `items` and the next page's token under `next`, a string or null
/// (e.g. `{"items": [...], "next_page_token": "…"}`). A missing `next`
/// ends the list: some upstreams leave it out of the last page, and a body
/// that parsed as a whole object was not cut short, so this cannot hide a
/// truncation.
pub fn list_page<'a>(
    body: &'a [u8],
    what: &str,
    items: &str,
    next: &str,
) -> Result<ListPage<'a>, ConnectorError> {
    // One pass for a well-formed page; the passes below name what is wrong
    // with one that is not.
    if let Ok(text) = std::str::from_utf8(body) {
        use serde::de::DeserializeSeed;
        let mut parser = serde_json::Deserializer::from_str(text);
        if let Ok((list, token)) = (PageSeed { items, next }).deserialize(&mut parser)
            && parser.end().is_ok()
        {
            return Ok(ListPage {
                items: records(&list, what)?,
                next: token.filter(|t| !t.is_empty()),
            });
        }
    }
    let fields = object(body, what)?;
    let list = fields
        .get(items)
        .ok_or_else(|| bad(format!("the answer for {what} has no `{items}` list")))?;
    let list: Vec<&RawValue> = serde_json::from_str(list)
        .map_err(|_| bad(format!("`{items}` in the answer for {what} is not a list")))?;
    let list = records(&list, what)?;
    let token: Option<String> = match fields.get(next) {
        None => None,
        Some(token) => serde_json::from_str(token).map_err(|_| {
            bad(format!(
                "`{next}` in the answer for {what} is neither a string nor null"
            ))
        })?,
    };
    Ok(ListPage {
        items: list,
        next: token.filter(|t| !t.is_empty()),
    })
}

/// Reads a well-formed page in one pass, as a derived struct with the two
/// fields `items` (required) and `next` (defaulted) would: unknown fields
/// are skipped, a field given twice fails, and (as serde reads a struct) a
/// JSON array is read as the fields in order. Names are compared without
/// being copied.
struct PageSeed<'n> {
    items: &'n str,
    next: &'n str,
}

/// Which of a page's fields a key names.
enum PageField {
    Items,
    Next,
    Other,
}

impl<'de> serde::de::DeserializeSeed<'de> for &PageSeed<'_> {
    type Value = PageField;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<PageField, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &PageSeed<'_> {
    type Value = PageField;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<PageField, E> {
        Ok(if name == self.items {
            PageField::Items
        } else if name == self.next {
            PageField::Next
        } else {
            PageField::Other
        })
    }

    fn visit_bytes<E: serde::de::Error>(self, name: &[u8]) -> Result<PageField, E> {
        match std::str::from_utf8(name) {
            Ok(name) => self.visit_str(name),
            Err(_) => Ok(PageField::Other),
        }
    }
}

type RawPage<'a> = (Vec<&'a RawValue>, Option<String>);

impl<'de> serde::de::DeserializeSeed<'de> for PageSeed<'_> {
    type Value = RawPage<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawPage<'de>, D::Error> {
        d.deserialize_struct("Page", &[], self)
    }
}

impl<'de> serde::de::Visitor<'de> for PageSeed<'_> {
    type Value = RawPage<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a page of a list")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawPage<'de>, A::Error> {
        use serde::de::Error;
        let (mut list, mut token) = (None, None);
        while let Some(field) = map.next_key_seed(&self)? {
            match field {
                PageField::Items if list.is_none() => list = Some(map.next_value()?),
                PageField::Next if token.is_none() => token = Some(map.next_value()?),
                PageField::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                _ => return Err(A::Error::custom("a field given twice")),
            }
        }
        let list = list.ok_or_else(|| A::Error::missing_field("items"))?;
        Ok((list, token.flatten()))
    }

    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<RawPage<'de>, S::Error> {
        use serde::de::Error;
        let list = seq
            .next_element()?
            .ok_or_else(|| S::Error::invalid_length(0, &self))?;
        let token = seq.next_element()?.flatten();
        Ok((list, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of a list whose items are `items` and whose next token is
    /// `next_page_token`.
    fn page(body: &[u8]) -> Result<ListPage<'_>, ConnectorError> {
        list_page(body, "w", "items", "next_page_token")
    }

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify("{ \"a b\" : [1, 2],\n\t\"c\": \"x \\\" y\\\\\" , \"d\":null }"),
            r#"{"a b":[1,2],"c":"x \" y\\","d":null}"#
        );
    }

    #[test]
    fn minifies_at_compile_time() {
        const INPUT: &str = "{ \"a b\" : [1, 2],\n\t\"c\": \"x \\\" y\\\\\" , \"é\":null }";
        const TEXT: &str = minified!(INPUT);
        assert_eq!(TEXT, minify(INPUT));
        assert_eq!(TEXT, r#"{"a b":[1,2],"c":"x \" y\\","é":null}"#);
    }

    #[test]
    fn records_are_kept_verbatim() {
        let body = br#" {"z": 1, "a": null, "big": 123456789012345678901234567890, "f": 1.0, "u": "\u00e9"} "#;
        assert_eq!(
            record(body, "w").unwrap(),
            r#"{"z":1,"a":null,"big":123456789012345678901234567890,"f":1.0,"u":"\u00e9"}"#
        );
    }

    #[test]
    fn keys_are_appended_only_when_absent() {
        let rec = r#"{"z":1,"big":123456789012345678901234567890,"project_slug":null,"n":1.0}"#;
        let f = fields(rec, "w").unwrap();
        assert_eq!(u64_field(&f, "z"), Some(1));
        assert_eq!(u64_field(&f, "n"), None);
        assert_eq!(raw_field(&f, "big"), Some("123456789012345678901234567890"));
        let out = with_keys(
            rec,
            &f,
            &[
                ("project_slug", string("gh/a/b")),
                ("job_id", string("j\"1")),
                ("test_index", "7".into()),
            ],
        );
        assert_eq!(
            out,
            r#"{"z":1,"big":123456789012345678901234567890,"project_slug":null,"n":1.0,"job_id":"j\"1","test_index":7}"#
        );
        let f = fields("{}", "w").unwrap();
        assert_eq!(with_keys("{}", &f, &[("a", "1".into())]), r#"{"a":1}"#);
        assert!(fields("[1]", "w").is_err());
    }

    #[test]
    fn bare_arrays_parse() {
        assert_eq!(
            array(br#" [ {"id": "1", "x" : null} , {} ] "#, "w").unwrap(),
            vec![r#"{"id":"1","x":null}"#.to_string(), "{}".to_string()]
        );
        assert_eq!(array(b"[]", "w").unwrap(), Vec::<String>::new());
        assert!(array(br#"{"items":[]}"#, "w").is_err());
        assert!(array(b"[1]", "w").is_err());
        assert!(array(b"[{", "w").is_err());
    }

    #[test]
    fn pages_parse() {
        let p = page(br#"{"next_page_token": "abc", "items": [{"id": "1"}, {"id":"2","x":null}]}"#)
            .unwrap();
        assert_eq!(
            p.items,
            vec![
                r#"{"id":"1"}"#.to_string(),
                r#"{"id":"2","x":null}"#.to_string()
            ]
        );
        assert_eq!(p.next.as_deref(), Some("abc"));
        let p = page(br#"{"items": [], "next_page_token": null}"#).unwrap();
        assert_eq!(
            p,
            ListPage {
                items: vec![],
                next: None
            }
        );
        let p = page(br#"{"items": [], "next_page_token": ""}"#).unwrap();
        assert_eq!(p.next, None);
    }

    /// The one-pass read of a page agrees with a serde-derived struct of
    /// the same two fields, on what it accepts and what it finds.
    #[test]
    fn the_one_pass_page_reads_as_a_derived_struct() {
        #[derive(serde::Deserialize)]
        struct Derived<'a> {
            #[serde(borrow)]
            items: Vec<&'a RawValue>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let raw = |items: Vec<&RawValue>| -> Vec<String> {
            items.iter().map(|r| r.get().to_string()).collect()
        };
        for body in [
            r#"{"items":[{"a":1}],"next_page_token":"t"}"#,
            r#"{"next_page_token":null,"items":[]}"#,
            r#"{"items":[]}"#,
            r#"{"next_page_token":"t"}"#,
            r#"{"items":[],"items":[]}"#,
            r#"{"items":[],"next_page_token":null,"next_page_token":"t"}"#,
            r#"{"items":[],"other":{"deep":[1,2,{"x":null}]},"next_page_token":"t"}"#,
            r#"{"it\u0065ms":[{"b":2}],"next_page_token":"t"}"#,
            r#"{"items":[{"a":1}],"next_page_token":5}"#,
            r#"{"items":{},"next_page_token":null}"#,
            r#"[[{"a":1}],"t"]"#,
            r#"[[{"a":1}]]"#,
            r#"[[{"a":1}],"t",3]"#,
            r#"[]"#,
            r#"{"items":[]} x"#,
            r#"{"items":[{"a":1}],"next_page_token":"t"#,
            " { \"items\" : [ { \"a\" : 1 } ] } ",
        ] {
            let derived = serde_json::from_str::<Derived<'_>>(body)
                .map(|d| (raw(d.items), d.next_page_token))
                .ok();
            let mut parser = serde_json::Deserializer::from_str(body);
            let seed = PageSeed {
                items: "items",
                next: "next_page_token",
            };
            let read = serde::de::DeserializeSeed::deserialize(seed, &mut parser)
                .ok()
                .filter(|_| parser.end().is_ok())
                .map(|(items, next)| (raw(items), next));
            assert_eq!(read, derived, "{body}");
        }
    }

    #[test]
    fn field_names_are_borrowed_unless_escaped() {
        let f = fields(r#"{"id":"1","a\u0062":2,"n":null}"#, "w").unwrap();
        let key = |name: &str| f.keys().find(|k| *k == name).cloned();
        assert!(matches!(key("id"), Some(Cow::Borrowed(_))));
        assert!(matches!(key("ab"), Some(Cow::Owned(_))));
        assert_eq!(
            raw_field(&f, "ab"),
            Some("2"),
            "an escaped name reads as its text"
        );
        assert_eq!(string_field(&f, "id").as_deref(), Some("1"));
        assert_eq!(raw_field(&f, "n"), Some("null"));
        assert_eq!(raw_field(&f, "missing"), None);
    }

    #[test]
    fn records_other_parsers_refuse_are_bad_responses() {
        for item in [
            r#"{"n":1e400}"#,
            r#"{"a":[-1e309]}"#,
            r#"{"s":"\ud800"}"#,
            r#"{"\udc00":1}"#,
        ] {
            let body = format!(r#"{{"items":[{{"id":"1"}},{item}],"next_page_token":null}}"#);
            match page(body.as_bytes()) {
                Err(ConnectorError::BadResponse(m)) => {
                    assert!(
                        m.starts_with("item 1 in the answer for w holds JSON that parsers refuse"),
                        "{m}"
                    )
                }
                other => panic!("{item}: {other:?}"),
            }
            assert!(matches!(
                record(item.as_bytes(), "w"),
                Err(ConnectorError::BadResponse(_))
            ));
        }
        // Large but representable numbers are kept as written.
        let body = br#"{"items":[{"n":1e308,"big":123456789012345678901234567890}],"next_page_token":null}"#;
        assert_eq!(
            page(body).unwrap().items,
            [r#"{"n":1e308,"big":123456789012345678901234567890}"#]
        );
    }

    #[test]
    fn bad_shapes_are_bad_responses() {
        for (body, fragment) in [
            (&b""[..], "not valid JSON"),
            (
                br#"{"items": [{"id": "1"}], "next_page_token": nu"#,
                "looks cut off",
            ),
            (br#"{"items": [{"id": "1"}"#, "looks cut off"),
            (b"[]", "not a JSON object"),
            (br#"{"next_page_token": null}"#, "no `items`"),
            (br#"{"items": {}, "next_page_token": null}"#, "not a list"),
            (br#"{"items": [1], "next_page_token": null}"#, "item 0"),
            (
                br#"{"items": [], "next_page_token": 5}"#,
                "neither a string nor null",
            ),
            (&[0xff, 0xfe][..], "not UTF-8"),
        ] {
            match list_page(
                body,
                "pipelines of project gh/a/b",
                "items",
                "next_page_token",
            ) {
                Err(ConnectorError::BadResponse(m)) => assert!(m.contains(fragment), "{m}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // A whole object without `next_page_token` is the last page (some
        // upstreams leave it out); it cannot be a cut-off body, which never
        // parses.
        let last = page(br#"{"items": [{"id": "9"}]}"#).unwrap();
        assert_eq!(last.next, None);
        assert_eq!(last.items.len(), 1);
        assert!(matches!(
            record(b"[1]", "w"),
            Err(ConnectorError::BadResponse(_))
        ));
        assert!(matches!(
            record(b"{\"a\":", "w"),
            Err(ConnectorError::BadResponse(_))
        ));
    }
}
