//! Domain types: "parse, don't validate" — a value of these types has passed its rules.

pub mod access;
pub mod course;
pub mod forecast;
pub mod idle;
pub mod mail;
pub mod names;
pub mod org;
pub mod plan;
pub mod schedule;
pub mod settings;
pub mod token;
pub mod user;

pub use access::{Area, AreaSet, BaseRole, UserType, UserTypeId};
pub use course::{Certificate, Course, CourseId, CourseRole, CourseStatus, Enrollment};
pub use idle::{IdleCandidate, IdlePolicy, IdleStep};
pub use names::{Email, PersonName, Username, name_key};
pub use org::{Branch, BranchId, Group, GroupId};
pub use plan::{Feature, PlanState, PlanTier};
pub use schedule::{DailyJob, Day, Schedule};
pub use settings::{PASSWORD_SIGN_IN_EVERYONE, Setting, SettingValue, TrustedProxies};
pub use token::{Token, TokenScope};
pub use user::{Origin, User, UserCursor, UserId, UserOrder, UserSort, UserStatus, login_key};

/// Milliseconds since the Unix epoch, UTC: the one time representation in storage, so that
/// both backends compare and index it the same way.
pub type Millis = i64;

/// The id of a row not yet written: a new `User<Unsaved>` (and so on) has none, and becomes
/// a `User` with the id the store gives it (`saved`), so no placeholder id exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsaved;

/// One day in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

/// RFC 3339 with millisecond precision, as every channel prints times.
pub fn format_millis(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Accepts `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp.
pub fn parse_time(field: &str, s: &str) -> crate::Result<Millis> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis());
    }
    Err(crate::Error::invalid(
        field,
        format!("'{s}' is not a date (YYYY-MM-DD) or an RFC 3339 time"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_timestamps() {
        assert_eq!(parse_time("d", "1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("d", "1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(parse_time("d", "yesterday").is_err());
        assert_eq!(format_millis(1500), "1970-01-01T00:00:01.500Z");
    }
}
