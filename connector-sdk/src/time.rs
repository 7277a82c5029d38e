//! Date-time parsing without a clock: RFC 3339 (settings, records) and the
//! HTTP-date of `Retry-After` / `Date` headers, to Unix seconds, plus
//! [`Ts`], the nanosecond instants incremental sync compares.
//!
//! The guest has no clock import on purpose, so durations are only ever
//! computed between two dates the upstream sent. Timestamps are always
//! compared after parsing, never as text: an upstream may write them with
//! and without milliseconds (`…:05Z` and `…:05.120Z` differ as text).

/// An instant, in nanoseconds since 1970-01-01T00:00:00Z. Covers the years
/// 1678 to 2261, far more than any upstream's data needs; other dates do not parse.
pub type Ts = i64;

/// Nanoseconds per second.
pub const NANOS: i64 = 1_000_000_000;

/// Nanoseconds per day.
pub const DAY: Ts = 86_400 * NANOS;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(10)?.checked_add((b - b'0') as u32)
    })
}

fn unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h <= 23
        && mi <= 59
        && s <= 60;
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64)
}

/// Parses an RFC 3339 date-time (`2024-01-31T12:00:00Z`,
/// `2024-01-31T12:00:00.123+02:00`, …) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_rfc3339_parts(s).map(|(secs, _)| secs)
}

/// Parses an RFC 3339 date-time to a [`Ts`], keeping the fraction (digits
/// past the ninth are dropped).
pub fn parse_ts(s: &str) -> Option<Ts> {
    let (secs, nanos) = parse_rfc3339_parts(s)?;
    // In i128: near the lower end of the range, `secs * NANOS` alone is
    // below `i64::MIN` while the instant is not, and the state must read
    // back every instant [`format_ts`] wrote.
    Ts::try_from(secs as i128 * NANOS as i128 + nanos as i128).ok()
}

/// Writes a [`Ts`] as RFC 3339 in UTC: `2024-01-31T12:00:00Z`, with a
/// `.123` (or nine-digit) fraction when it has one. [`parse_ts`] reads it back.
pub fn format_ts(ts: Ts) -> String {
    let (secs, nanos) = (ts.div_euclid(NANOS), ts.rem_euclid(NANOS));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos % 1_000_000 == 0 && nanos != 0 {
        out.push_str(&format!(".{:03}", nanos / 1_000_000));
    } else if nanos != 0 {
        out.push_str(&format!(".{nanos:09}"));
    }
    out.push('Z');
    out
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds and the nanoseconds of the fraction.
fn parse_rfc3339_parts(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        nanos = frac[..n]
            .iter()
            .chain(b"000000000")
            .take(9)
            .fold(0, |acc, c| acc * 10 + (c - b'0') as u32);
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let (oh, om) = (digits(&[*oh1, *oh2])?, digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = (oh * 3600 + om * 60) as i64;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    Some((unix(y as i64, mo, d, h, mi, sec)? - offset, nanos))
}

/// Parses an IMF-fixdate HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`) to
/// Unix seconds. The obsolete RFC 850 and asctime forms are not accepted.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let d = digits(parts.next()?.as_bytes())?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = parts.next()?;
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = digits(parts.next()?.as_bytes())?;
    let t = parts.next()?.as_bytes();
    if t.len() != 8 || t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, mi, sec) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    unix(y as i64, mo, d, h, mi, sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.123Z"),
            Some(1_709_208_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00+02:00"),
            Some(1_709_208_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t11:30:00-00:30"),
            Some(1_709_208_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00+24:00",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn precise_instants() {
        let a = parse_ts("2024-02-29T12:00:00Z").unwrap();
        let b = parse_ts("2024-02-29T12:00:00.120Z").unwrap();
        let c = parse_ts("2024-02-29T14:00:00.12+02:00").unwrap();
        assert_eq!(a, 1_709_208_000 * NANOS);
        assert_eq!(b - a, 120_000_000);
        assert_eq!(b, c);
        assert!(parse_ts("2024-02-29T12:00:00.9Z").unwrap() > b);
        assert_eq!(
            parse_ts("2024-02-29T12:00:00.123456789123Z").unwrap() - a,
            123_456_789
        );
        for text in [
            "2024-02-29T12:00:00Z",
            "2024-02-29T12:00:00.120Z",
            "1969-12-31T23:59:59.000000001Z",
            "2000-03-01T00:00:00Z",
            "2261-12-31T23:59:59.999Z",
        ] {
            assert_eq!(format_ts(parse_ts(text).unwrap()), text);
        }
        assert_eq!(parse_ts("9999-01-01T00:00:00Z"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:10 GMT"), Some(10));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_http_date("120"), None);
    }
}
