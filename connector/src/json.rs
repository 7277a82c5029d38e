//! CircleCI's JSON answers: records are read as the SDK reads any
//! upstream's ([`connector_sdk::json`]: raw text, never re-serialised),
//! and CircleCI's paged lists have the shape [`list_page`] reads.

pub use connector_sdk::json::*;

/// The field of a CircleCI list page that holds its items.
pub const ITEMS: &str = "items";
/// The field of a CircleCI list page that holds the next page's token.
pub const NEXT_PAGE_TOKEN: &str = "next_page_token";

/// Parses a page of a CircleCI list: `{"items": [...], "next_page_token":
/// "…" | null}`. CircleCI has been reported to leave `next_page_token` out
/// of the last page of some listings (job lists among them): that ends the
/// list too (see [`connector_sdk::json::list_page`]).
pub fn list_page<'a>(body: &'a [u8], what: &str) -> Result<ListPage<'a>, crate::ConnectorError> {
    connector_sdk::json::list_page(body, what, ITEMS, NEXT_PAGE_TOKEN)
}
