//! Small text codecs the server needs: percent-decoding of path segments and query strings, and
//! base64 (url-safe for page tokens, standard for HTTP Basic credentials).
//!
//! Hand-written because they are a few lines each and every input here is untrusted: each decoder
//! returns `None` on malformed input instead of panicking, so the caller can answer with an error.

/// Decodes `%XX` escapes. `None` on a truncated or non-hex escape, or if the result is not UTF-8.
pub fn percent_decode(raw: &str) -> Option<String> {
    decode_escapes(raw, false)
}

/// Decodes an `application/x-www-form-urlencoded` component (query names and values): `+` is a space.
pub fn form_decode(raw: &str) -> Option<String> {
    decode_escapes(raw, true)
}

fn decode_escapes(raw: &str, plus_is_space: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Query parameters in order, decoded. A pair that fails to decode is kept with its raw text, so a
/// garbled parameter the endpoint does not read can never fail a request.
pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| form_decode(s).unwrap_or_else(|| s.to_owned());
            (decode(name), decode(value))
        })
        .collect()
}

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 4648 §5), the alphabet that needs no escaping in a query string.
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(URL_SAFE[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes base64 in either alphabet (standard or url-safe), padded or not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character (6 bits) cannot come from any byte string; leftover bits must be 0.
    (bits < 6 && acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("gh%2Facme%2fwidgets").as_deref(),
            Some("gh/acme/widgets")
        );
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(form_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("branch=feature%2Fx&page-token=abc&flag&bad=%zz"));
        assert_eq!(
            q,
            [
                ("branch".into(), "feature/x".into()),
                ("page-token".into(), "abc".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz".into()),
            ]
        );
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64url_encode(&data);
            assert!(!text.contains('='));
            assert_eq!(base64_decode(&text), Some(data));
        }
        assert_eq!(base64_decode("dG9rZW46").as_deref(), Some(&b"token:"[..]));
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("ab!c"), None);
    }
}
