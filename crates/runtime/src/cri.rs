//! The CRI log format hb-shim writes and hb reads back (`TIME STREAM F|P TEXT`,
//! as Kubernetes' CRI and podman's conmon write it). Standard library only:
//! hb-shim includes this file as its own module.

use std::time::{SystemTime, UNIX_EPOCH};

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// False for a partial line (continued by the next).
    pub full: bool,
    /// The text.
    pub text: String,
}

/// RFC 3339 with nanoseconds, UTC: what CRI logs use.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Parses one CRI log line: `TIME STREAM F|P TEXT`.
pub fn parse_cri(line: &str) -> Option<LogLine> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?.to_string();
    let stream = parts.next()?.to_string();
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("").to_string();
    Some(LogLine {
        time,
        stream,
        full: tag == "F",
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_nano_utc() {
        let t = UNIX_EPOCH + Duration::new(1_764_504_000, 123_456_789);
        assert_eq!(timestamp(t), "2025-11-30T12:00:00.123456789Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn cri_lines_parse() {
        let l = parse_cri("2026-11-30T12:00:00.000000001Z stdout F hello world").expect("parses");
        assert_eq!(
            (l.stream.as_str(), l.full, l.text.as_str()),
            ("stdout", true, "hello world")
        );
        let l = parse_cri("2026-11-30T12:00:00.000000001Z stderr P ").expect("parses");
        assert_eq!((l.full, l.text.as_str()), (false, ""));
        assert!(parse_cri("garbage").is_none());
    }
}
