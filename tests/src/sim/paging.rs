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
        let start = match token {
            None => 0,
            Some(token) => self.open(listing, token)?,
        };
        let start = start.min(items.len());
        let end = (start + PAGE_SIZE).min(items.len());
        let next = (end < items.len()).then(|| self.seal(listing, end));
        Ok(json!({"items": &items[start..end], "next_page_token": next}))
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
