//! A UTC instant with the three text forms the spec tools write. No clock is read here:
//! callers build a [`Timestamp`] from the time they got elsewhere.

use std::fmt;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A UTC instant with microsecond precision.
///
/// Formats: [`to_rfc3339_micros`](Timestamp::to_rfc3339_micros) (`2026-02-24T07:16:13.654610Z`,
/// LeanSpec), [`to_iso_millis`](Timestamp::to_iso_millis) (`2025-12-21T03:49:07.430Z`, JavaScript's
/// `toISOString`, spec-workflow) and [`date`](Timestamp::date) (`2026-01-28`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub fn from_unix_millis(ms: i64) -> Self {
        Timestamp { micros: ms.saturating_mul(1000) }
    }

    /// From microseconds since the Unix epoch.
    pub fn from_unix_micros(us: i64) -> Self {
        Timestamp { micros: us }
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        self.micros
    }

    /// Milliseconds since the Unix epoch (floored).
    pub fn unix_millis(self) -> i64 {
        self.micros.div_euclid(1000)
    }

    /// `2026-02-24T07:16:13.654610Z`: LeanSpec's `created_at`/`updated_at`/transition form.
    pub fn to_rfc3339_micros(self) -> String {
        let (date, h, m, s) = self.parts();
        format!("{date}T{h:02}:{m:02}:{s:02}.{:06}Z", self.micros.rem_euclid(MICROS_PER_SEC))
    }

    /// `2025-12-21T03:49:07.430Z`: JavaScript's `Date.toISOString()`, used by spec-workflow.
    pub fn to_iso_millis(self) -> String {
        let (date, h, m, s) = self.parts();
        format!("{date}T{h:02}:{m:02}:{s:02}.{:03}Z", self.micros.rem_euclid(MICROS_PER_SEC) / 1000)
    }

    /// `2026-01-28`: LeanSpec's `created:` date.
    pub fn date(self) -> String {
        self.parts().0
    }

    /// `2025-12-21T1140`: the minute stamp in spec-workflow's implementation-log file names.
    pub fn to_log_file_stamp(self) -> String {
        let (date, h, m, _) = self.parts();
        format!("{date}T{h:02}{m:02}")
    }

    /// Parses RFC 3339 / ISO 8601 instants as the tools write them: any number of fraction
    /// digits (kept to the microsecond), `Z` or a `±HH:MM` offset. Returns `None` otherwise.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let t = text.trim().as_bytes();
        if t.len() < 19 || !matches!(t[10], b'T' | b't' | b' ') || t[13] != b':' || t[16] != b':' {
            return None;
        }
        let days = parse_date_bytes(&t[..10])?;
        let (h, m, s) = (num(&t[11..13])?, num(&t[14..16])?, num(&t[17..19])?);
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        let mut i = 19;
        let mut frac_micros = 0i64;
        if t.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while t.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 6 {
                    frac_micros = frac_micros * 10 + i64::from(t[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..6 {
                frac_micros *= 10;
            }
        }
        let offset_secs = match &t[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                let secs = num(&[*oh1, *oh2])? * 3600 + num(&[*om1, *om2])? * 60;
                if *sign == b'+' {
                    secs
                } else {
                    -secs
                }
            }
            _ => return None,
        };
        let secs = days * SECS_PER_DAY + h * 3600 + m * 60 + s - offset_secs;
        Some(Timestamp { micros: secs * MICROS_PER_SEC + frac_micros })
    }

    /// Parses a `YYYY-MM-DD` date as midnight UTC.
    pub fn parse_date(text: &str) -> Option<Timestamp> {
        let t = text.trim().as_bytes();
        if t.len() != 10 {
            return None;
        }
        Some(Timestamp { micros: parse_date_bytes(t)? * SECS_PER_DAY * MICROS_PER_SEC })
    }

    fn parts(self) -> (String, i64, i64, i64) {
        let secs = self.micros.div_euclid(MICROS_PER_SEC);
        let days = secs.div_euclid(SECS_PER_DAY);
        let rem = secs.rem_euclid(SECS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        (format!("{y:04}-{mo:02}-{d:02}"), rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_micros())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339_micros())
    }
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn parse_date_bytes(t: &[u8]) -> Option<i64> {
    if t.len() != 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&t[..4])?, num(&t[5..7])?, num(&t[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms: exact for the whole proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_corpus() {
        // 2026-02-24T07:16:13.654610Z
        let t = Timestamp::parse("2026-02-24T07:16:13.654610Z").unwrap();
        assert_eq!(t.to_rfc3339_micros(), "2026-02-24T07:16:13.654610Z");
        assert_eq!(t.to_iso_millis(), "2026-02-24T07:16:13.654Z");
        assert_eq!(t.date(), "2026-02-24");
        assert_eq!(Timestamp::from_unix_millis(1_766_288_947_430).to_iso_millis(), "2025-12-21T03:49:07.430Z");
        assert_eq!(Timestamp::parse("2025-12-21T11:40:50.625Z").unwrap().to_log_file_stamp(), "2025-12-21T1140");
    }

    #[test]
    fn parses_the_variants_found_in_real_files() {
        let base = Timestamp::parse("2026-03-20T08:46:00Z").unwrap();
        assert_eq!(Timestamp::parse("2026-03-20T08:46:00.000000+00:00"), Some(base));
        assert_eq!(Timestamp::parse("2026-03-20T10:46:00+02:00"), Some(base));
        let nanos = Timestamp::parse("2026-03-04T06:38:31.354034484Z").unwrap();
        assert_eq!(nanos.to_rfc3339_micros(), "2026-03-04T06:38:31.354034Z");
        assert_eq!(Timestamp::parse("2025-11-20T07:01:48.211Z").unwrap().to_iso_millis(), "2025-11-20T07:01:48.211Z");
        assert_eq!(Timestamp::parse("2025-02-30T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::parse_date("2026-01-28").unwrap().date(), "2026-01-28");
    }

    #[test]
    fn epoch_and_before() {
        assert_eq!(Timestamp::from_unix_micros(0).to_rfc3339_micros(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::from_unix_micros(-1).to_rfc3339_micros(), "1969-12-31T23:59:59.999999Z");
        let leap = Timestamp::parse("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(leap.date(), "2024-02-29");
    }
}
