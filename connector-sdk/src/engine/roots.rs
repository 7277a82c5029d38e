//! Where a walk starts ([`Roots`]): roots the settings name, or roots a
//! connector's own hook discovers, one request at a time, before any root
//! is read ([`Discover`] is what the hook may use).

use super::state::Progress;
use super::{Call, Root, Step, Upstream};
use crate::error::ConnectorError;
use crate::state::{START_OVER, invalid};

/// A walk's roots: given, or discovered by the connector.
pub trait Roots {
    /// What the discovery keeps in the walk state between calls (`()` for
    /// roots that are always given).
    type Progress: Progress;

    /// The roots, when the settings name them; `None` when they must be
    /// discovered. A 404 on the own listing of a root given here is an
    /// error ([`super::On404::Hint`]), where a discovered one is skipped.
    fn given(&self) -> Option<Vec<Root>>;

    /// The roots discovery found in an earlier call, as the state keeps
    /// them: their keys, and their ids when discovery found one for each.
    fn found(&self, keys: &[String], ids: Option<&[String]>) -> Result<Vec<Root>, ConnectorError>;

    /// The root of an item the last sync skipped that is not among this
    /// walk's roots, by its key.
    fn root(&self, key: &str) -> Result<Root, ConnectorError>;

    /// Whether a state that holds discovery progress (`progress`) or root
    /// ids (`ids`) can be this discovery's (the engine refuses the state
    /// otherwise).
    fn fits(&self, _progress: bool, _ids: bool) -> bool {
        true
    }

    /// One step of discovery: at most one request ([`Discover::get`]), or
    /// concluding with [`Discover::found`]. [`Step::More`] goes on;
    /// [`Step::Yield`] ends the call (a page token's 404, asked again at the
    /// next call).
    fn discover(&self, d: &mut Discover<'_, Self::Progress>) -> Result<Step, ConnectorError>;

    /// Skips what discovery is reading, the host having retried its
    /// request until its policy gave up (`why`); an error (see
    /// [`super::not_an_item`]) when that is not one item.
    fn give_up(
        &self,
        d: &mut Discover<'_, Self::Progress>,
        why: &str,
    ) -> Result<(), ConnectorError>;
}

/// What a discovery step may use: the upstream, its progress, the page's
/// notices and skipped list, and what the cursors say.
pub struct Discover<'w, D> {
    pub(super) upstream: &'w mut dyn Upstream,
    /// The discovery's progress as the last step left it (`None` before
    /// the first). Kept in the state until the roots are found.
    pub progress: &'w mut Option<D>,
    /// The page's notices.
    pub notices: &'w mut Vec<String>,
    /// The page's `skipped` list.
    pub skipped: &'w mut Vec<String>,
    pub(super) roots: &'w mut Option<Vec<String>>,
    pub(super) ids: &'w mut Option<Vec<String>>,
    pub(super) sent: &'w mut usize,
    pub(super) ok: &'w mut usize,
    pub(super) unfinished: &'w [String],
}

impl<D> Discover<'_, D> {
    /// `GET`s `path` with `query` and returns the body of a 2xx answer:
    /// one request of the call's budget. `what` names what is read.
    pub fn get(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<u8>, ConnectorError> {
        *self.sent += 1;
        self.upstream
            .get_all(&[Call { path, query, what }])
            .pop()
            .unwrap_or_else(|| Err(ConnectorError::BadResponse(format!("no answer for {what}"))))
            .map(|(body, _)| body)
    }

    /// Counts a step that made progress (a request answered, or one
    /// skipped): the call then returns what it has rather than an error.
    pub fn answered(&mut self) {
        *self.ok += 1;
    }

    /// Concludes discovery: the roots are `keys`, with `ids` when every
    /// one has an id. The progress is dropped from the state.
    pub fn found(&mut self, keys: Vec<String>, ids: Option<Vec<String>>) {
        *self.roots = Some(keys);
        *self.ids = ids;
    }

    /// Whether [`Discover::found`] was called.
    pub fn is_found(&self) -> bool {
        self.roots.is_some()
    }

    /// The keys of the roots that an asked incremental stream's cursor
    /// marks as having unfinished work (an `lwm`), stream by stream, each
    /// stream's in key order: roots worth reading even when discovery no
    /// longer finds them.
    pub fn unfinished(&self) -> &[String] {
        self.unfinished
    }
}

/// Roots that are always given: a fixed list, for an upstream with one
/// root (an account, the API itself) or roots the connector knows.
pub struct Given(pub Vec<Root>);

impl Roots for Given {
    type Progress = ();

    fn given(&self) -> Option<Vec<Root>> {
        Some(self.0.clone())
    }

    fn found(&self, _: &[String], _: Option<&[String]>) -> Result<Vec<Root>, ConnectorError> {
        Err(invalid(format!(
            "the state lists roots of its own, where the settings name them; {START_OVER}"
        )))
    }

    fn root(&self, key: &str) -> Result<Root, ConnectorError> {
        self.0
            .iter()
            .find(|r| r.key == key)
            .cloned()
            .ok_or_else(|| {
                invalid(format!(
                    "the state names a root it does not list; {START_OVER}"
                ))
            })
    }

    fn fits(&self, progress: bool, ids: bool) -> bool {
        !progress && !ids
    }

    fn discover(&self, _: &mut Discover<'_, ()>) -> Result<Step, ConnectorError> {
        Err(invalid(format!(
            "the state looks for roots, where the settings name them; {START_OVER}"
        )))
    }

    fn give_up(&self, _: &mut Discover<'_, ()>, why: &str) -> Result<(), ConnectorError> {
        Err(super::not_an_item(why, "finding the roots"))
    }
}
