//! The daily jobs and when they run: once per *period*, a day in the configured time zone,
//! starting at the configured hour.
//!
//! The period due at a time is the latest day whose scheduled start (that day at `hour`,
//! local time) has passed: before the hour it is still yesterday's. A period that no
//! instance ran (every instance was down at the hour) is therefore run at the first tick
//! after, and a period already finished is never run again.

use super::{DAY_MS, Millis};
use crate::{Error, Result};
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// rollcall's own daily jobs, by their stable names (CONTRACT.md, `rollcall jobs`). A new
/// job is one variant here, its name, and its body in `service/schedule.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DailyJob {
    /// Scheduled deactivations and reactivations (leave of absence) whose day has come.
    ScheduledLifecycle,
    /// Purges users in the trash longer than `deletion_retention_days`.
    TrashPurge,
    /// Records the day's count of seats used (the dashboard's history).
    SeatSnapshot,
    /// The idle-account policy: warnings, and deactivations of accounts past their deadline.
    IdlePolicy,
    /// Alerts to administrators as seats used cross 80, 90 and 100% of a limit.
    SeatAlerts,
}

impl DailyJob {
    pub const ALL: [DailyJob; 5] = [
        DailyJob::ScheduledLifecycle,
        DailyJob::TrashPurge,
        DailyJob::SeatSnapshot,
        DailyJob::IdlePolicy,
        DailyJob::SeatAlerts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DailyJob::ScheduledLifecycle => "scheduled-lifecycle",
            DailyJob::TrashPurge => "trash-purge",
            DailyJob::SeatSnapshot => "seat-snapshot",
            DailyJob::IdlePolicy => "idle-policy",
            DailyJob::SeatAlerts => "seat-alerts",
        }
    }

    pub fn parse(s: &str) -> Result<DailyJob> {
        let s = s.trim();
        DailyJob::ALL.into_iter().find(|j| j.name() == s).ok_or_else(|| {
            let known: Vec<&str> = DailyJob::ALL.iter().map(|j| j.name()).collect();
            Error::invalid("job", format!("unknown job '{s}'; the jobs are {}", known.join(", ")))
        })
    }
}

impl std::fmt::Display for DailyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// When the daily jobs run: `hour` (0–23) in `time_zone`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    hour: i8,
    time_zone: TimeZone,
    zone_name: String,
}

impl Default for Schedule {
    /// 03:00 UTC.
    fn default() -> Schedule {
        Schedule {
            hour: 3,
            time_zone: TimeZone::UTC,
            zone_name: "UTC".into(),
        }
    }
}

impl Schedule {
    /// `hour` 0–23 and an IANA time zone name (`Europe/Berlin`, `UTC`).
    pub fn new(hour: i64, time_zone: &str) -> Result<Schedule> {
        let hour = i8::try_from(hour)
            .ok()
            .filter(|h| (0..24).contains(h))
            .ok_or_else(|| Error::invalid("jobs_hour", format!("{hour} is not an hour from 0 to 23")))?;
        let zone_name = time_zone.trim();
        let tz = TimeZone::get(zone_name).map_err(|_| {
            Error::invalid(
                "time_zone",
                format!("'{zone_name}' is not a known time zone (an IANA name such as UTC or Europe/Berlin)"),
            )
        })?;
        Ok(Schedule {
            hour,
            time_zone: tz,
            zone_name: zone_name.to_owned(),
        })
    }

    pub fn hour(&self) -> i64 {
        i64::from(self.hour)
    }

    pub fn time_zone_name(&self) -> &str {
        &self.zone_name
    }

    fn local_date(&self, at: Millis) -> Date {
        jiff::Timestamp::from_millisecond(at)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(self.time_zone.clone())
            .date()
    }

    /// The day `at` falls on in the configured time zone.
    pub fn today(&self, at: Millis) -> Day {
        Day(self.local_date(at))
    }

    /// The period due at `at`: today once the hour has passed, else yesterday.
    pub fn due_period(&self, at: Millis) -> Day {
        let today = self.local_date(at);
        if at >= self.start_of(Day(today)) {
            Day(today)
        } else {
            Day(today.yesterday().unwrap_or(today))
        }
    }

    /// When `period`'s run is scheduled: its day at the configured hour, local time (the
    /// next hour that exists, on a day the clocks skip it).
    pub fn start_of(&self, period: Day) -> Millis {
        let dt = period.0.at(self.hour, 0, 0, 0);
        self.time_zone
            .to_ambiguous_zoned(dt)
            .compatible()
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0)
    }

    /// The threshold a scheduled date is due against on the run of `period`: a date
    /// (stored as that day's midnight UTC) is due on its day in the configured time zone,
    /// an instant once it has passed. Whichever is later of `now` and `period` as midnight UTC.
    pub fn due_threshold(&self, period: Day, now: Millis) -> Millis {
        let midnight = period.0.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_millisecond());
        now.max(midnight.unwrap_or(now))
    }
}

/// A day in the configured time zone; a daily job's period. Shown `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(Date);

impl Day {
    pub fn parse(field: &str, s: &str) -> Result<Day> {
        s.trim()
            .parse::<Date>()
            .map(Day)
            .map_err(|_| Error::invalid(field, format!("'{}' is not a date (YYYY-MM-DD)", s.trim())))
    }

    pub fn next(self) -> Day {
        Day(self.0.tomorrow().unwrap_or(self.0))
    }

    /// Days since 1970-01-01 (the seat history's day number).
    pub fn epoch_day(self) -> i64 {
        self.0
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond().div_euclid(DAY_MS))
            .unwrap_or(0)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn job_names_round_trip_and_unknown_ones_list_the_known() {
        for j in DailyJob::ALL {
            assert_eq!(DailyJob::parse(j.name()).unwrap(), j);
        }
        let e = DailyJob::parse("nightly").unwrap_err().to_string();
        assert!(e.starts_with("job: unknown job 'nightly'"), "{e}");
        assert!(
            e.contains("scheduled-lifecycle, trash-purge, seat-snapshot, idle-policy, seat-alerts"),
            "{e}"
        );
    }

    #[test]
    fn the_period_is_yesterday_until_the_hour() {
        let s = Schedule::new(3, "UTC").unwrap();
        assert_eq!(s.due_period(at("2026-05-10T02:59:59Z")).to_string(), "2026-05-09");
        assert_eq!(s.due_period(at("2026-05-10T03:00:00Z")).to_string(), "2026-05-10");
        assert_eq!(
            s.start_of(Day::parse("d", "2026-05-10").unwrap()),
            at("2026-05-10T03:00:00Z")
        );
    }

    #[test]
    fn periods_are_days_in_the_configured_zone() {
        let s = Schedule::new(3, "Europe/Berlin").unwrap();
        // 03:00 in Berlin in May is 01:00 UTC.
        assert_eq!(s.due_period(at("2026-05-10T00:59:00Z")).to_string(), "2026-05-09");
        assert_eq!(s.due_period(at("2026-05-10T01:00:00Z")).to_string(), "2026-05-10");
        let ny = Schedule::new(23, "America/New_York").unwrap();
        // 23:00 in New York on the 10th is 03:00 UTC on the 11th.
        assert_eq!(ny.due_period(at("2026-05-11T03:30:00Z")).to_string(), "2026-05-10");
        assert_eq!(ny.today(at("2026-05-11T03:30:00Z")).to_string(), "2026-05-10");
    }

    #[test]
    fn a_date_is_due_on_its_day_in_the_zone() {
        let date = at("2026-05-10T00:00:00Z"); // --reactivate-on 2026-05-10
        for zone in ["UTC", "America/Los_Angeles", "Pacific/Auckland"] {
            let s = Schedule::new(3, zone).unwrap();
            let run_on = |day: &str| {
                let p = Day::parse("d", day).unwrap();
                date <= s.due_threshold(p, s.start_of(p))
            };
            assert!(!run_on("2026-05-09"), "{zone}: not the day before");
            assert!(run_on("2026-05-10"), "{zone}: on the day");
        }
    }

    #[test]
    fn bad_hours_and_zones_name_their_field() {
        assert!(
            Schedule::new(24, "UTC")
                .unwrap_err()
                .to_string()
                .starts_with("jobs_hour:")
        );
        assert!(
            Schedule::new(-1, "UTC")
                .unwrap_err()
                .to_string()
                .starts_with("jobs_hour:")
        );
        let e = Schedule::new(3, "Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.starts_with("time_zone: 'Mars/Olympus' is not a known time zone"),
            "{e}"
        );
    }
}
