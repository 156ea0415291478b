//! Instants on the store's time axes: UTC, millisecond precision, written as
//! fixed-width RFC 3339 text (`2026-03-01T00:00:00.000Z`) so that text order
//! is time order in the database.

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant, milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A time that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an RFC 3339 time: write it as 2026-03-01T08:00:00+08:00 or 2026-03-01T00:00:00Z (a date alone, 2026-03-01, means its midnight in UTC)"
)]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The latest instant the store can write (9999-12-31T23:59:59.999Z).
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// Now.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any offset), or a plain date `YYYY-MM-DD` (UTC midnight).
    /// Years 1000 to 9999 only, so that the text form keeps its width.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let t = text.trim();
        let err = || TimestampError(text.chars().take(64).collect());
        let dt = match DateTime::parse_from_rfc3339(t) {
            Ok(dt) => dt.with_timezone(&Utc),
            Err(_) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| err())?
                .and_hms_opt(0, 0, 0)
                .ok_or_else(err)?
                .and_utc(),
        };
        let ms = dt.timestamp_millis();
        let ts = Timestamp(ms);
        if !(Timestamp::parse_bound_low()..=Timestamp::parse_bound_high()).contains(&ts) {
            return Err(err());
        }
        Ok(ts)
    }

    fn parse_bound_low() -> Timestamp {
        // 1000-01-01T00:00:00Z
        Timestamp(-30_610_224_000_000)
    }

    fn parse_bound_high() -> Timestamp {
        // 9999-12-31T23:59:59.999Z
        Timestamp(253_402_300_799_999)
    }

    /// The fixed-width UTC text form.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_read_as_the_same_instant_and_text_order_is_time_order() {
        let a = Timestamp::parse("2026-03-01T08:00:00+08:00").unwrap();
        let b = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2026-03-01T00:00:00.000Z");
        assert_eq!(Timestamp::parse("2026-03-01").unwrap(), b);
        let times = [
            "1999-12-31T23:59:59.999Z",
            "2026-03-01T00:00:00Z",
            "2100-01-01T00:00:00Z",
        ];
        let parsed: Vec<Timestamp> = times.iter().map(|t| Timestamp::parse(t).unwrap()).collect();
        for w in parsed.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_rfc3339() < w[1].to_rfc3339());
        }
        assert!(Timestamp::parse("last march").is_err());
        assert!(Timestamp::parse("0999-01-01").is_err());
    }
}
