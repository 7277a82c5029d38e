//! Timestamps in the form CircleCI prints them: RFC 3339, UTC, with milliseconds
//! (`2026-05-01T12:34:56.789Z`).
//!
//! The simulator never reads the wall clock: all times are offsets from a fixed anchor so that the same
//! seed always gives the same bytes.

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The simulated "now": 2026-05-01T12:00:00.000Z. Every generated record is older than this.
pub const ANCHOR: Millis = days_from_civil(2026, 5, 1) * DAY + 12 * HOUR;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// How much simulated time one [`crate::sim::Simulator::advance`] covers. Every change made by an
/// advance to epoch `e` is timestamped in `(epoch_time(e - 1), epoch_time(e)]`.
pub const EPOCH_SPAN: Millis = HOUR;

/// The simulated "now" of epoch `epoch`: [`ANCHOR`] at epoch 0, then one [`EPOCH_SPAN`] later per epoch.
pub fn epoch_time(epoch: u64) -> Millis {
    ANCHOR + EPOCH_SPAN * epoch as Millis
}

/// Nothing is stamped in the last `QUIET` before an epoch's "now": everything of epoch `e` is at or
/// before `epoch_time(e) - QUIET`. The server's `Date` header is the epoch's "now", and a connector may
/// lower its watermark to `Date` minus a clock margin of a minute (docs/streams.md: `floor`); with
/// this gap that margin never reaches a served timestamp, so the watermark is exactly the latest
/// timestamp seen and "changed since the last sync" stays exact.
pub const QUIET: Millis = 2 * MINUTE;

/// `t`, moved out of an epoch's quiet zone `(epoch_time(e) - QUIET, epoch_time(e)]` by pushing it
/// `QUIET` later (activity planned there happens just after the epoch's "now" instead).
pub fn out_of_quiet(t: Millis) -> Millis {
    if t <= ANCHOR - QUIET || t == Millis::MAX {
        return t;
    }
    // The first epoch "now" at or after t.
    let e = (t - ANCHOR + EPOCH_SPAN - 1).div_euclid(EPOCH_SPAN);
    let now = ANCHOR + e * EPOCH_SPAN;
    if t > now - QUIET { t + QUIET } else { t }
}

/// An HTTP `Date` header value (IMF-fixdate): `Fri, 01 May 2026 12:00:00 GMT`.
pub fn http_date(t: Millis) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = t.div_euclid(DAY);
    let in_day = t.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND
    )
}

/// Parses the RFC 3339 forms clients send (`2026-05-01T12:00:00Z`, with or without fractional seconds,
/// `Z` or a numeric offset) into UTC milliseconds. `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * HOUR + m * MINUTE)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * DAY + hour * HOUR + minute * MINUTE + second * SECOND + millis - offset)
}

/// `2026-05-01T12:34:56.789Z`.
pub fn rfc3339_millis(t: Millis) -> String {
    let days = t.div_euclid(DAY);
    let in_day = t.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / HOUR,
        in_day % HOUR / MINUTE,
        in_day % MINUTE / SECOND,
        in_day % SECOND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(ANCHOR), "2026-05-01T12:00:00.000Z");
        assert_eq!(rfc3339_millis(ANCHOR - 1), "2026-05-01T11:59:59.999Z");
        // 2024-02-29 exists (leap year), 1_709_164_800 s is its midnight.
        assert_eq!(
            rfc3339_millis(1_709_164_800_000 + 3_723_004),
            "2024-02-29T01:02:03.004Z"
        );
    }

    #[test]
    fn parses_what_clients_send() {
        assert_eq!(parse_rfc3339("2026-05-01T12:00:00.000Z"), Some(ANCHOR));
        assert_eq!(parse_rfc3339("2026-05-01T12:00:00Z"), Some(ANCHOR));
        assert_eq!(parse_rfc3339("2026-05-01T14:00:00+02:00"), Some(ANCHOR));
        assert_eq!(parse_rfc3339("2026-05-01T12:00:00.5Z"), Some(ANCHOR + 500));
        assert_eq!(
            parse_rfc3339("2026-05-01T12:00:00.123456Z"),
            Some(ANCHOR + 123)
        );
        for bad in [
            "",
            "2026-05-01",
            "2026-13-01T00:00:00Z",
            "2026-05-01T12:00:00",
            "2026-05-01T12:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(epoch_time(2), ANCHOR + 2 * HOUR);
    }

    #[test]
    fn http_dates_and_quiet_zones() {
        assert_eq!(http_date(ANCHOR), "Fri, 01 May 2026 12:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(out_of_quiet(ANCHOR - QUIET), ANCHOR - QUIET);
        assert_eq!(out_of_quiet(ANCHOR - 1), ANCHOR - 1 + QUIET);
        assert_eq!(out_of_quiet(ANCHOR), ANCHOR + QUIET);
        assert_eq!(out_of_quiet(ANCHOR + 1), ANCHOR + 1);
        assert_eq!(
            out_of_quiet(epoch_time(3) - 1_000),
            epoch_time(3) - 1_000 + QUIET
        );
        assert_eq!(
            out_of_quiet(epoch_time(3) - QUIET - 1),
            epoch_time(3) - QUIET - 1
        );
    }

    #[test]
    fn civil_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
