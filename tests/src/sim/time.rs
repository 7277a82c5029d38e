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
    fn civil_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
