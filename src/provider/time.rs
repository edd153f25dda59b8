//! China Standard Time (UTC+8) formats of the UMS protocol.
//!
//! UMS writes every wall-clock time in Beijing time regardless of where the caller runs, so
//! the conversion is explicit here rather than left to the host's time zone.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};

/// `yyyy-MM-dd HH:mm:ss`: `requestTimestamp`, `expireTime`, `payTime`, `responseTimestamp`.
pub const DATE_TIME: &str = "%Y-%m-%d %H:%M:%S";
/// `yyyyMMddHHmmss`: the `Timestamp` of the `OPEN-BODY-SIG` header.
pub const COMPACT: &str = "%Y%m%d%H%M%S";

const CHINA_OFFSET_SECS: i32 = 8 * 3600;

fn china() -> FixedOffset {
    // 8 h is well inside the ±24 h that FixedOffset accepts; UTC is a safe fallback anyway.
    FixedOffset::east_opt(CHINA_OFFSET_SECS).unwrap_or_else(|| Utc.fix())
}

/// Current Unix time in seconds.
pub fn now_unix() -> i64 {
    Utc::now().timestamp()
}

/// Current Unix time in milliseconds.
pub fn now_unix_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Unix seconds as a China-time `DateTime` (the epoch if out of range, which no real
/// timestamp is).
pub fn china_time(unix: i64) -> DateTime<FixedOffset> {
    let utc = DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default();
    utc.with_timezone(&china())
}

/// Formats Unix seconds as `yyyy-MM-dd HH:mm:ss` in China time.
pub fn format_china(unix: i64) -> String {
    china_time(unix).format(DATE_TIME).to_string()
}

/// Formats Unix seconds as `yyyyMMddHHmmss` in China time.
pub fn format_compact(unix: i64) -> String {
    china_time(unix).format(COMPACT).to_string()
}

/// Parses China time in `format` back to Unix seconds; `None` if it does not match.
pub fn parse_china(text: &str, format: &str) -> Option<i64> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), format).ok()?;
    china()
        .from_local_datetime(&naive)
        .single()
        .map(|time| time.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_china_time_whatever_the_host_zone() {
        // 1747279526 is the seed's c_time; its time_end is "2025-05-15 11:25:26".
        assert_eq!(format_china(1_747_279_526), "2025-05-15 11:25:26");
        assert_eq!(format_compact(1_747_279_526), "20250515112526");
    }

    #[test]
    fn parses_back() {
        assert_eq!(
            parse_china("2025-05-15 11:25:26", DATE_TIME),
            Some(1_747_279_526)
        );
        assert_eq!(parse_china("20250515112526", COMPACT), Some(1_747_279_526));
        assert_eq!(parse_china("2025-05-15", DATE_TIME), None);
    }
}
