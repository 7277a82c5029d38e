//! How a listing pages: which query key carries the token of the page
//! asked, and where an answer holds its items and the next page's token
//! ([`Paging`]); [`TokenPages`] is the common shape, an object with a list
//! and an opaque token.

use super::state::MAX_TOKEN_LEN;
use crate::error::ConnectorError;
use crate::json::{self, ListPage};

/// How the requests and answers of a paged listing carry its pages. The
/// engine keeps the token of a listing's next page in the walk state, asks
/// for the page with it ([`Paging::ask`]) and reads the answer's items and
/// next token back ([`Paging::read`]). Called once per page.
pub trait Paging: Sync {
    /// Adds the token of the page asked to a request's `query`: `token` is
    /// `None` for the first page. An error (a token this paging never
    /// gives, from a forged state) is returned before any request is sent.
    fn ask(
        &self,
        token: Option<&str>,
        query: &mut Vec<(&'static str, String)>,
    ) -> Result<(), ConnectorError>;

    /// Reads one answer of a listing asked with `token`: its items (each a
    /// JSON object) and the next page's token, `None` on the last page.
    /// `what` names what was read, for messages. Whatever this returns, the
    /// engine refuses an answer whose next token is the one it was asked
    /// with (it would loop) or is longer than [`MAX_TOKEN_LEN`]; a paging
    /// may refuse those first, in its own words.
    fn read<'a>(
        &self,
        body: &'a [u8],
        token: Option<&str>,
        what: &str,
    ) -> Result<ListPage<'a>, ConnectorError>;
}

/// Pages that an opaque token chains: an answer is a JSON object with the
/// page's items under `items` and the next page's token (a string, or null
/// or absent on the last page) under `next`; the next page is asked with
/// that token as the query parameter `key`, added after the request's own.
#[derive(Debug, Clone, Copy)]
pub struct TokenPages {
    /// The query key that carries the token of the page asked.
    pub key: &'static str,
    /// The answer's field that holds the page's items.
    pub items: &'static str,
    /// The answer's field that holds the next page's token.
    pub next: &'static str,
    /// How messages name who sent the answers.
    pub upstream: &'static str,
}

impl Paging for TokenPages {
    fn ask(
        &self,
        token: Option<&str>,
        query: &mut Vec<(&'static str, String)>,
    ) -> Result<(), ConnectorError> {
        if let Some(token) = token {
            query.push((self.key, token.to_string()));
        }
        Ok(())
    }

    fn read<'a>(
        &self,
        body: &'a [u8],
        token: Option<&str>,
        what: &str,
    ) -> Result<ListPage<'a>, ConnectorError> {
        let page = json::list_page(body, what, self.items, self.next)?;
        if page.next.is_some() && page.next.as_deref() == token {
            return Err(ConnectorError::BadResponse(format!(
                "{} sent the same {} again for {what}; stopping rather than looping",
                self.upstream, self.next
            )));
        }
        if page.next.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_LEN) {
            return Err(ConnectorError::BadResponse(format!(
                "the {} for {what} is longer than {MAX_TOKEN_LEN} bytes",
                self.next
            )));
        }
        Ok(page)
    }
}
