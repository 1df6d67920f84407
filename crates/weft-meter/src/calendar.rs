//! Small UTC calendar helpers (no time-zone database): the instant of a
//! date, `YYYY-MM-DD[THH:MM[:SS]Z]` and `HH:MM` parsing, the weekday and
//! minute of an instant, and the current time on every target.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current wall-clock time (`SystemTime::now`, or `Date.now()` in a
/// browser, where `SystemTime::now` is not available).
pub fn now() -> SystemTime {
    #[cfg(not(target_arch = "wasm32"))]
    {
        SystemTime::now()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let since = web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .unwrap_or_default();
        UNIX_EPOCH + since
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The instant of a UTC date and time, or `None` for an impossible one.
///
/// ```
/// let t = weft_meter::calendar::utc(2026, 11, 2, 3, 30).unwrap();
/// assert_eq!(
///     t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
///     1_793_590_200
/// );
/// ```
pub fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> Option<SystemTime> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60;
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]Z` (UTC only).
pub(crate) fn parse_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let (hour, minute, second) = match time {
        None => (0, 0, 0),
        Some(t) => {
            let mut p = t.splitn(3, ':');
            let h: u32 = p.next()?.parse().ok()?;
            let m: u32 = p.next()?.parse().ok()?;
            let s: u32 = match p.next() {
                Some(x) => x.parse().ok()?,
                None => 0,
            };
            if s > 59 {
                return None;
            }
            (h, m, s)
        }
    };
    utc(year, month, day, hour, minute).map(|t| t + Duration::from_secs(u64::from(second)))
}

/// Parses `HH:MM` into minutes after midnight (`24:00` allowed as 1440).
pub(crate) fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// The weekday (0 = Monday ... 6 = Sunday) and the minute of the day of `t`
/// shifted by `offset_minutes` from UTC.
pub(crate) fn weekday_and_minute(t: SystemTime, offset_minutes: i32) -> (u32, u32) {
    let secs = unix_secs(t) + i64::from(offset_minutes) * 60;
    let days = secs.div_euclid(86_400);
    let minute = u32::try_from(secs.rem_euclid(86_400) / 60).unwrap_or(0);
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    let weekday = u32::try_from((days + 3).rem_euclid(7)).unwrap_or(0);
    (weekday, minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        let t = utc(2026, 8, 17, 0, 0).unwrap();
        assert_eq!(parse_utc("2026-08-17"), Some(t));
        assert_eq!(
            parse_utc("2026-08-16T16:00:00Z"),
            Some(t - Duration::from_secs(8 * 3600))
        );
        assert_eq!(parse_utc("2026-08-16 16:00"), None);
        assert_eq!(parse_utc("2026-13-01"), None);
        // 2026-08-17 is a Monday.
        assert_eq!(weekday_and_minute(t, 0), (0, 0));
        assert_eq!(weekday_and_minute(t, -60), (6, 23 * 60));
        assert_eq!(utc(1970, 1, 1, 0, 0), Some(UNIX_EPOCH));
        assert_eq!(parse_hhmm("16:30"), Some(990));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        assert_eq!(parse_hhmm("7:61"), None);
    }
}
