//! The simulator's answer to one request, before it becomes a hyper response.
//!
//! Kept separate from hyper so handlers stay plain functions, and general enough (status, content type,
//! extra headers, raw body) for later fault injection such as a plain-text 429 with `Retry-After`.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Reply {
    /// A JSON body, serialised compactly as CircleCI does.
    pub fn json(status: StatusCode, body: &Value) -> Reply {
        // Serialising a `Value` cannot fail (its map keys are always strings).
        let body = serde_json::to_vec(body).unwrap_or_default();
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Bytes::from(body),
        }
    }

    pub fn ok(body: &Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    /// A 200 with any serialisable body, written straight to bytes (no intermediate `Value`).
    pub fn ok_serialize<T: serde::Serialize>(body: &T) -> Reply {
        match serde_json::to_vec(body) {
            Ok(bytes) => Reply {
                status: StatusCode::OK,
                content_type: "application/json",
                headers: Vec::new(),
                body: Bytes::from(bytes),
            },
            // Only possible for a map with non-string keys, which no body here has.
            Err(_) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error."),
        }
    }

    /// CircleCI's error shape: `{"message": "…"}`.
    pub fn error(status: StatusCode, message: &str) -> Reply {
        Reply::json(status, &json!({ "message": message }))
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }
}
