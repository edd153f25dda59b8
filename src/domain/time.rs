//! Time as the service shows it: Unix seconds, and `YYYY-MM-DD HH:MM:SS` in China Standard
//! Time (UTC+8).

use chrono::{Datelike, FixedOffset, TimeZone, Timelike};

/// China Standard Time, UTC+8 (no daylight saving).
pub fn china() -> FixedOffset {
    const EIGHT_HOURS: i32 = 8 * 3600;
    FixedOffset::east_opt(EIGHT_HOURS).expect("UTC+8 is a valid offset")
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Current Unix time in milliseconds.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` in China Standard Time.
pub fn format_china(unix_secs: u64) -> String {
    let secs = i64::try_from(unix_secs).unwrap_or(i64::MAX);
    match china().timestamp_opt(secs, 0).single() {
        // Written out rather than `format("%Y-%m-%d …")`, which parses the pattern on every
        // call: this runs on every state poll.
        Some(at) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_the_seed_time() {
        // The seed's order was created at c_time 1747279526 and shows time_end 2025-05-15 11:25:26.
        assert_eq!(super::format_china(1_747_279_526), "2025-05-15 11:25:26");
    }
}
