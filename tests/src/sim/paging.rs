//! CircleCI-style pagination: `{"items": [...], "next_page_token": "<opaque>" | null}`, 20 items a page,
//! continued with `?page-token=`.
//!
//! A page token is the offset of the next page sealed with a keyed hash of the listing it belongs to
//! (tenant, route, filters), then base64url-encoded. That makes it opaque to clients (they cannot
//! compute offsets, so a connector that does gets caught), and lets the server reject a token replayed
//! against another listing, another tenant, or after tampering, the way a real opaque cursor would.

use serde::Serialize;
use serde_json::{Value, json};

use super::codec::{base64_decode, base64url_encode};
use super::rng::mix64;

/// Items per page; CircleCI has no page-size parameter.
pub const PAGE_SIZE: usize = 20;

/// One page in CircleCI's envelope. Serialised straight to the response body, so items that are typed
/// structs (pipelines) never become a `Value` on the hot path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

impl<T: Serialize> Page<T> {
    /// The envelope as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A page token that does not belong to this listing (malformed, forged, or from another listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidPageToken;

/// Seals and opens page tokens. One per simulator, keyed from its seed, so tokens are deterministic.
#[derive(Debug, Clone)]
pub struct PageTokens {
    secret: u64,
}

impl PageTokens {
    pub fn new(seed: u64) -> Self {
        PageTokens {
            secret: mix64(seed ^ 0x7061_6765_746f_6b6e),
        }
    }

    /// The page of `items` that `token` points at (the first page without a token), as the JSON envelope.
    ///
    /// `listing` must name everything that defines the list (tenant, route, filters): a token is only
    /// accepted by the listing that issued it.
    pub fn page<T: Serialize>(
        &self,
        listing: &str,
        items: &[T],
        token: Option<&str>,
    ) -> Result<Value, InvalidPageToken> {
        self.page_forward(listing, items.len(), token, |i| json!(items[i]))
            .map(|page| page.to_value())
    }

    /// A page of a list that only ever grows at its end, in stored order: tokens hold the offset of the
    /// next page. Only the page's items are rendered.
    pub fn page_forward<T>(
        &self,
        listing: &str,
        len: usize,
        token: Option<&str>,
        render: impl FnMut(usize) -> T,
    ) -> Result<Page<T>, InvalidPageToken> {
        let start = match token {
            None => 0,
            Some(token) => self.open(listing, token)?,
        };
        let start = start.min(len);
        let end = (start + PAGE_SIZE).min(len);
        let items: Vec<T> = (start..end).map(render).collect();
        let next = (end < len).then(|| self.seal(listing, end));
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    /// A page of a list stored oldest first and served newest first, keeping only the items `keep`
    /// accepts. Tokens hold a position counted from the oldest end, so a walk in progress neither
    /// repeats nor skips items when newer ones are added meanwhile (as with CircleCI's cursors).
    pub fn page_newest_first<T>(
        &self,
        listing: &str,
        len: usize,
        token: Option<&str>,
        keep: impl Fn(usize) -> bool,
        mut render: impl FnMut(usize) -> T,
    ) -> Result<Page<T>, InvalidPageToken> {
        let bound = match token {
            None => len,
            Some(token) => self.open(listing, token)?.min(len),
        };
        let mut items = Vec::with_capacity(PAGE_SIZE);
        let mut position = bound;
        while position > 0 && items.len() < PAGE_SIZE {
            position -= 1;
            if keep(position) {
                items.push(render(position));
            }
        }
        // A next page only if something is left to show, so a walk never ends on an empty page.
        let more = (0..position).rev().any(&keep);
        let next = more.then(|| self.seal(listing, position));
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    /// Like [`PageTokens::page_newest_first`], but tokens count positions from the newest end, as a
    /// naive server's offsets do: items added at the head meanwhile push the next page's window back,
    /// so its first items repeat the previous page's last ones. Served only while a `head-insert`
    /// fault is planned ([`crate::sim::faults`]); `listing` must then differ from the stable mode's, so
    /// neither accepts the other's tokens.
    pub fn page_newest_first_by_offset<T>(
        &self,
        listing: &str,
        len: usize,
        token: Option<&str>,
        keep: impl Fn(usize) -> bool,
        mut render: impl FnMut(usize) -> T,
    ) -> Result<Page<T>, InvalidPageToken> {
        let skipped = match token {
            None => 0,
            Some(token) => self.open(listing, token)?,
        };
        let mut items = Vec::with_capacity(PAGE_SIZE);
        let mut position = len.saturating_sub(skipped);
        while position > 0 && items.len() < PAGE_SIZE {
            position -= 1;
            if keep(position) {
                items.push(render(position));
            }
        }
        let more = (0..position).rev().any(&keep);
        // `len - position` is at least 1 here (a page was taken), so the token is never offset 0.
        let next = more.then(|| self.seal(listing, len - position));
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    fn mac(&self, listing: &str, offset: u64) -> u64 {
        let mut h = mix64(self.secret ^ offset);
        for chunk in listing.as_bytes().chunks(8) {
            let word = chunk.iter().fold(0u64, |w, &b| w << 8 | u64::from(b));
            h = mix64(h ^ word ^ (chunk.len() as u64) << 56);
        }
        mix64(h ^ listing.len() as u64)
    }

    fn seal(&self, listing: &str, offset: usize) -> String {
        let offset = offset as u64;
        let mac = self.mac(listing, offset);
        // The offset is masked too, so a token looks random rather than like a counter.
        let masked = offset ^ mix64(mac ^ self.secret);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&mac.to_be_bytes());
        bytes[8..].copy_from_slice(&masked.to_be_bytes());
        base64url_encode(&bytes)
    }

    fn open(&self, listing: &str, token: &str) -> Result<usize, InvalidPageToken> {
        let bytes = base64_decode(token).ok_or(InvalidPageToken)?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| InvalidPageToken)?;
        let (mac_bytes, masked_bytes) = bytes.split_at(8);
        let mac = u64::from_be_bytes(mac_bytes.try_into().map_err(|_| InvalidPageToken)?);
        let masked = u64::from_be_bytes(masked_bytes.try_into().map_err(|_| InvalidPageToken)?);
        let offset = masked ^ mix64(mac ^ self.secret);
        if offset == 0 || self.mac(listing, offset) != mac {
            return Err(InvalidPageToken);
        }
        usize::try_from(offset).map_err(|_| InvalidPageToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_item_once() {
        let tokens = PageTokens::new(42);
        for len in [0, 1, 19, 20, 21, 40, 45] {
            let items: Vec<usize> = (0..len).collect();
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = tokens.page("l", &items, token.as_deref()).unwrap();
                let got: Vec<usize> = serde_json::from_value(page["items"].clone()).unwrap();
                assert!(got.len() <= PAGE_SIZE);
                seen.extend(got);
                match page["next_page_token"].as_str() {
                    Some(next) => token = Some(next.to_owned()),
                    None => break,
                }
            }
            assert_eq!(seen, items, "len {len}");
        }
    }

    #[test]
    fn newest_first_walks_survive_appends() {
        let tokens = PageTokens::new(42);
        let walk = |len: usize, appended: usize, keep: &dyn Fn(usize) -> bool| {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            let mut current = len;
            loop {
                let page = tokens
                    .page_newest_first("l", current, token.as_deref(), keep, |i| i)
                    .unwrap()
                    .to_value();
                let got: Vec<usize> = serde_json::from_value(page["items"].clone()).unwrap();
                assert!(got.len() <= PAGE_SIZE);
                seen.extend(got);
                // Newer items arrive after the first page: the walk must not see them or repeat.
                current = len + appended;
                match page["next_page_token"].as_str() {
                    Some(next) => token = Some(next.to_owned()),
                    None => break,
                }
            }
            seen
        };
        for len in [0, 1, 20, 21, 45] {
            let all: Vec<usize> = (0..len).rev().collect();
            assert_eq!(walk(len, 0, &|_| true), all);
            assert_eq!(walk(len, 7, &|_| true), all);
            let even: Vec<usize> = (0..len).rev().filter(|i| i % 2 == 0).collect();
            assert_eq!(walk(len, 3, &|i| i % 2 == 0), even);
            assert_eq!(
                walk(len, 0, &|i| i == 0),
                if len > 0 { vec![0] } else { vec![] }
            );
        }
    }

    #[test]
    fn offset_walks_repeat_items_pushed_back_by_insertions() {
        let tokens = PageTokens::new(42);
        let page = |len: usize, token: Option<&str>| {
            tokens
                .page_newest_first_by_offset("l", len, token, |_| true, |i| i)
                .unwrap()
        };
        // Without insertions an offset walk is a plain walk.
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = page(45, token.as_deref());
            seen.extend(p.items);
            match p.next_page_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..45).rev().collect::<Vec<_>>());
        // Three items added at the head after the first page: the second page starts three back.
        let first = page(45, None);
        let second = page(48, first.next_page_token.as_deref());
        assert_eq!(second.items[..3], first.items[17..]);
        assert_eq!(second.items[3], 24);
    }

    #[test]
    fn tokens_are_bound_to_their_listing() {
        let tokens = PageTokens::new(42);
        let items: Vec<usize> = (0..50).collect();
        let page = tokens.page("tenant 0 project a", &items, None).unwrap();
        let next = page["next_page_token"].as_str().unwrap();
        assert!(
            tokens
                .page("tenant 0 project a", &items, Some(next))
                .is_ok()
        );
        assert_eq!(
            tokens.page("tenant 0 project b", &items, Some(next)),
            Err(InvalidPageToken)
        );
        assert_eq!(
            PageTokens::new(43).page("tenant 0 project a", &items, Some(next)),
            Err(InvalidPageToken)
        );
        for bad in ["", "20", "not base64!", "AAAAAAAAAAAAAAAAAAAAAA"] {
            assert_eq!(
                tokens.page("tenant 0 project a", &items, Some(bad)),
                Err(InvalidPageToken),
                "{bad}"
            );
        }
    }
}
