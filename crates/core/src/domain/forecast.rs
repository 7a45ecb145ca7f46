//! The seat forecast and the seat alerts, as pure functions of a series of daily counts.

use super::{DAY_MS, Millis};

/// When the limit is reached at the current rate: a least-squares line through the last 30
/// days' counts (day, seats used), extended forward. `None` when the line is flat or
/// falling, has fewer than two days to stand on, or reaches the limit only after a year.
pub fn limit_reached_on(series: &[(Millis, i64)], limit: i64, today: Millis) -> Option<Millis> {
    let today = day_start(today);
    if let Some(&(_, last)) = series.last()
        && last >= limit
    {
        return Some(today);
    }
    let recent: Vec<(f64, f64)> = series
        .iter()
        .filter(|(day, _)| *day > today - 30 * DAY_MS)
        .map(|&(day, used)| (((day - today) / DAY_MS) as f64, used as f64))
        .collect();
    let slope = trend(&recent)?;
    if slope <= 0.0 {
        return None;
    }
    let n = recent.len() as f64;
    let (mean_x, mean_y) = recent
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    // used(x) = mean_y + slope × (x − mean_x); solve used(x) = limit for x (days from today).
    let days = mean_x + (limit as f64 - mean_y) / slope;
    let days = days.ceil().max(0.0);
    (days <= 365.0).then(|| today + days as i64 * DAY_MS)
}

/// The slope of the least-squares line through `points` (x, y), or `None` with fewer than
/// two distinct x.
pub fn trend(points: &[(f64, f64)]) -> Option<f64> {
    fit(points).map(|(slope, _)| slope)
}

/// The least-squares line through `points` as (slope, intercept at x = 0), or `None` with
/// fewer than two distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mean_x, mean_y) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mean_x) * (y - mean_y), den + (x - mean_x) * (x - mean_x))
    });
    (den > 0.0).then(|| {
        let slope = num / den;
        (slope, mean_y - slope * mean_x)
    })
}

/// The fitted line of the last 30 days of `series` (days since the epoch, count), as
/// (slope per day, count at `today_day`).
pub fn fitted_line(series: &[(i64, i64)], today_day: i64) -> Option<(f64, f64)> {
    let recent: Vec<(f64, f64)> = series
        .iter()
        .filter(|(day, _)| *day > today_day - 30)
        .map(|&(day, n)| ((day - today_day) as f64, n as f64))
        .collect();
    fit(&recent)
}

/// The change over the days before `today`: the count now minus the count `days` ago (or
/// the oldest count, when the series is shorter).
pub fn change_over(series: &[(Millis, i64)], days: i64, today: Millis) -> Option<i64> {
    let (_, now) = *series.last()?;
    let since = day_start(today) - days * DAY_MS;
    let (_, then) = *series.iter().find(|(day, _)| *day >= since)?;
    Some(now - then)
}

/// The alert levels, in percent of a limit.
pub const ALERT_LEVELS: [i64; 3] = [80, 90, 100];
/// Points below a level that re-arm its alert.
pub const ALERT_REARM_POINTS: i64 = 5;

/// Given the levels whose alert has fired and not yet re-armed, and seats used of a limit:
/// the levels now fired, and those that fire now (once per crossing).
pub fn alert_levels(fired: &[i64], used: i64, limit: i64) -> (Vec<i64>, Vec<i64>) {
    if limit <= 0 {
        return (vec![], vec![]);
    }
    // Whole percent, rounded down, so 79.9% hasn't crossed 80%.
    let pct = used.saturating_mul(100) / limit;
    let mut still = vec![];
    let mut now = vec![];
    for level in ALERT_LEVELS {
        let was = fired.contains(&level);
        if pct >= level {
            still.push(level);
            if !was {
                now.push(level);
            }
        } else if was && pct > level - ALERT_REARM_POINTS {
            // Dipped under the level but not yet 5 points under: not re-armed.
            still.push(level);
        }
    }
    (still, now)
}

fn day_start(t: Millis) -> Millis {
    t.div_euclid(DAY_MS) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_800_000_000_000 / DAY_MS * DAY_MS;

    fn series(counts: &[i64]) -> Vec<(Millis, i64)> {
        let first = T0 - (counts.len() as i64 - 1) * DAY_MS;
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| (first + i as i64 * DAY_MS, *c))
            .collect()
    }

    #[test]
    fn a_steady_rise_reaches_the_limit_on_the_day_the_line_says() {
        // 10 seats a day, 50 today, limit 100: five days from today.
        let s = series(&[0, 10, 20, 30, 40, 50]);
        assert_eq!(limit_reached_on(&s, 100, T0 + 3_600_000), Some(T0 + 5 * DAY_MS));
        // A fractional day rounds up: the limit is reached during that day.
        assert_eq!(limit_reached_on(&s, 101, T0), Some(T0 + 6 * DAY_MS));
    }

    #[test]
    fn flat_falling_single_day_or_beyond_a_year_is_not_within_a_year() {
        assert_eq!(limit_reached_on(&series(&[40, 40, 40]), 100, T0), None);
        assert_eq!(limit_reached_on(&series(&[50, 45, 40]), 100, T0), None);
        assert_eq!(limit_reached_on(&series(&[40]), 100, T0), None);
        // One seat every ten days from 50 to 1,000 is ~26 years away.
        let slow: Vec<i64> = (0..30).map(|d| 50 + d / 10).collect();
        assert_eq!(limit_reached_on(&series(&slow), 1_000, T0), None);
    }

    #[test]
    fn a_full_plan_has_reached_its_limit_today() {
        assert_eq!(limit_reached_on(&series(&[90, 100]), 100, T0 + 5), Some(T0));
    }

    #[test]
    fn only_the_last_thirty_days_count() {
        // A steep rise long ago, flat for the last month.
        let mut counts: Vec<i64> = (0..30).map(|d| d * 3).collect();
        counts.extend(std::iter::repeat_n(90, 30));
        assert_eq!(limit_reached_on(&series(&counts), 100, T0), None);
    }

    #[test]
    fn change_over_a_window() {
        let s = series(&[10, 12, 15, 20]);
        assert_eq!(change_over(&s, 2, T0), Some(8));
        assert_eq!(
            change_over(&s, 90, T0),
            Some(10),
            "a short series counts from its start"
        );
        assert_eq!(change_over(&[], 30, T0), None);
    }

    #[test]
    fn each_alert_fires_once_per_crossing_and_rearms_five_points_below() {
        let (fired, now) = alert_levels(&[], 79, 100);
        assert_eq!((fired.clone(), now), (vec![], vec![]));
        let (fired, now) = alert_levels(&fired, 85, 100);
        assert_eq!((fired.clone(), now), (vec![80], vec![80]));
        // Staying above, or dipping less than five points under, fires nothing.
        let (fired, now) = alert_levels(&fired, 86, 100);
        assert_eq!((fired.clone(), now), (vec![80], vec![]));
        let (fired, now) = alert_levels(&fired, 76, 100);
        assert_eq!((fired.clone(), now), (vec![80], vec![]));
        let (fired, now) = alert_levels(&fired, 81, 100);
        assert!(now.is_empty());
        // Five points under re-arms it; crossing again fires again.
        let (fired, _) = alert_levels(&fired, 74, 100);
        assert!(fired.is_empty());
        let (fired, now) = alert_levels(&fired, 80, 100);
        assert_eq!(now, vec![80]);
        // A jump past several levels fires each once.
        let (fired, now) = alert_levels(&fired, 100, 100);
        assert_eq!((fired, now), (vec![80, 90, 100], vec![90, 100]));
        assert_eq!(alert_levels(&[], 5, 0), (vec![], vec![]), "no limit, no alert");
    }
}
