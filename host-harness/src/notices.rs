//! A bounded summary of the notices a connector attaches to its pages.
//!
//! A long sync repeats the same notice thousands of times ("skipped 1
//! approval job(s)…" once per call), so notices are grouped by their shape
//! (the text with every number replaced) and counted: an operator sees each
//! kind once with how often it happened, and memory stays bounded whatever
//! the connector sends.

use std::fmt;

use crate::error::printable;

/// At most this many kinds of notice are kept; the rest are only counted.
pub const MAX_KINDS: usize = 50;

/// One kind of notice: its first text and how many times it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeKind {
    /// The first notice of the kind, as the connector wrote it (cut to
    /// `MAX_SHOWN_CHARS`).
    pub example: String,
    /// How many notices of the kind came.
    pub count: u64,
    shape: String,
}

/// Notices grouped by shape, in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notices {
    kinds: Vec<NoticeKind>,
    /// Notices of kinds beyond `MAX_KINDS`.
    pub overflow: u64,
}

impl Notices {
    /// Counts `notice` under its kind.
    pub fn add(&mut self, notice: String) {
        let shape = shape_of(&notice);
        if let Some(kind) = self.kinds.iter_mut().find(|k| k.shape == shape) {
            kind.count += 1;
        } else if self.kinds.len() < MAX_KINDS {
            self.kinds.push(NoticeKind {
                example: notice,
                count: 1,
                shape,
            });
        } else {
            self.overflow += 1;
        }
    }

    /// The kinds seen, in the order they first came.
    pub fn kinds(&self) -> &[NoticeKind] {
        &self.kinds
    }

    /// Whether no notice came.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.overflow == 0
    }

    /// Every kind's first text.
    pub fn examples(&self) -> impl Iterator<Item = &str> {
        self.kinds.iter().map(|k| k.example.as_str())
    }
}

/// A notice is shown cut to this many characters.
pub const MAX_SHOWN_CHARS: usize = 500;

impl fmt::Display for NoticeKind {
    /// The example, on one line with its control characters escaped (it is
    /// the guest's text) and cut to `MAX_SHOWN_CHARS`, and its count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown: String = self.example.chars().take(MAX_SHOWN_CHARS).collect();
        if shown.len() < self.example.len() {
            shown.push('…');
        }
        let shown = printable(&shown);
        match self.count {
            1 => write!(f, "{shown}"),
            n => write!(f, "{shown} (and {} more like it)", n - 1),
        }
    }
}

/// The text with each run of digits replaced by `#`.
fn shape_of(text: &str) -> String {
    let mut shape = String::with_capacity(text.len());
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                shape.push('#');
            }
            in_digits = true;
        } else {
            shape.push(c);
            in_digits = false;
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_shape_and_stays_bounded() {
        let mut n = Notices::default();
        n.add("skipped 1 approval job(s)".into());
        n.add("skipped 12 approval job(s)".into());
        n.add("skipped workflow abc".into());
        assert_eq!(n.kinds().len(), 2);
        assert_eq!(
            n.kinds()[0].to_string(),
            "skipped 1 approval job(s) (and 1 more like it)"
        );
        for i in 0..200 {
            n.add(format!("kind {} {i}", "x".repeat(i)));
        }
        assert_eq!(n.kinds().len(), MAX_KINDS);
        assert_eq!(n.overflow, 200 - (MAX_KINDS as u64 - 2));
    }

    #[test]
    fn shows_a_guests_text_safely() {
        let mut n = Notices::default();
        n.add(format!("\x1b]0;owned\x07 line\nbreak {}", "y".repeat(2000)));
        let shown = n.kinds()[0].to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(
            shown.starts_with("\\u{1b}]0;owned\\u{7} line break yyy"),
            "{shown}"
        );
        assert!(shown.chars().count() < MAX_SHOWN_CHARS + 40, "cut short");
    }
}
