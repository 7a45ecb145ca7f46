//! The seats chart: seats used per day as inline SVG (no script, no library), with dated and
//! counted axes, the limit drawn as a line, the fitted trend of the last 30 days and the
//! projected date it reaches the limit.

use maud::{Markup, html};
use rollcall_core::domain::forecast::fitted_line;
use rollcall_core::domain::{DAY_MS, format_millis};

/// What the chart draws: days since the epoch (UTC) and counts.
pub(crate) struct SeatChart<'a> {
    pub title: &'a str,
    pub points: &'a [(i64, i64)],
    /// The plan's limit or a branch's cap, and how to name it.
    pub limit: Option<(i64, &'a str)>,
    /// The day the fitted line reaches the limit, when it does within a year.
    pub reached_on: Option<i64>,
    pub today: i64,
    /// How many days back the chart starts.
    pub days: i64,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
/// Room for the axes' labels.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 12.0;

fn date(day: i64) -> String {
    format_millis(day * DAY_MS)[..10].to_owned()
}

/// A round number at least `n`, for the top of the count axis.
fn nice_ceiling(n: i64) -> i64 {
    let n = n.max(4);
    let magnitude = 10_i64.pow((n as f64).log10().floor() as u32);
    for step in [1, 2, 5, 10] {
        let top = step * magnitude;
        if top >= n {
            return top;
        }
    }
    10 * magnitude
}

pub(crate) fn seat_chart(c: &SeatChart) -> Markup {
    let Some(&(_, latest)) = c.points.last() else {
        return html! { p { "No history yet: today's count is recorded by the daily seat snapshot." } };
    };
    let first_day = c.today - (c.days - 1);
    // The projected date is drawn when it falls within two months; later, it is only said.
    let shown_reach = c.reached_on.filter(|d| *d <= c.today + 60);
    let last_day = shown_reach.map_or(c.today, |d| d.max(c.today));
    let highest = c.points.iter().map(|p| p.1).max().unwrap_or(0);
    let top = nice_ceiling((highest.max(c.limit.map_or(0, |l| l.0)) as f64 * 1.1).ceil() as i64);
    let span = (last_day - first_day).max(1) as f64;
    let x = |day: i64| LEFT + (day - first_day) as f64 / span * (W - LEFT - RIGHT);
    let y = |n: f64| TOP + (1.0 - n / top as f64) * (H - TOP - BOTTOM);
    let line: Vec<String> = c
        .points
        .iter()
        .filter(|(d, _)| *d >= first_day)
        .map(|&(d, n)| format!("{:.1},{:.1}", x(d), y(n as f64)))
        .collect();
    let y_ticks: Vec<i64> = (0..=4).map(|i| top * i / 4).collect();
    let mut x_ticks = vec![first_day, first_day + (c.today - first_day) / 2, c.today];
    if let Some(d) = shown_reach
        && d > c.today
    {
        x_ticks.push(d);
    }
    let fitted = fitted_line(c.points, c.today);
    let trend_to = shown_reach.unwrap_or(c.today);
    let lowest = c.points.iter().map(|p| p.1).min().unwrap_or(0);
    let summary = format!(
        "{}: now {}, lowest {lowest}, highest {highest} over the last {} days{}{}",
        c.title,
        latest,
        c.days,
        c.limit.map(|(l, name)| format!("; {name} {l}")).unwrap_or_default(),
        match c.reached_on {
            Some(d) => format!(
                "; at the trend of the last 30 days (a least-squares line) the limit is reached on {}",
                date(d)
            ),
            None if c.limit.is_some() =>
                "; at the trend of the last 30 days the limit is not reached within a year".into(),
            None => String::new(),
        }
    );
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (W) " " (H) } width="100%" role="img" aria-labelledby="chart-title" {
                title id="chart-title" { (summary) }
                // The count axis, with its gridlines.
                @for t in &y_ticks {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", y(*t as f64))) y2=(format!("{:.1}", y(*t as f64))) stroke="#ddd" {}
                    text x=(LEFT - 6.0) y=(format!("{:.1}", y(*t as f64) + 4.0)) text-anchor="end" font-size="11" { (t) }
                }
                // The date axis.
                line x1=(LEFT) x2=(W - RIGHT) y1=(H - BOTTOM) y2=(H - BOTTOM) stroke="#555" {}
                @for (i, d) in x_ticks.iter().enumerate() {
                    @let anchor = if i == 0 { "start" } else if *d == last_day { "end" } else { "middle" };
                    text x=(format!("{:.1}", x(*d))) y=(H - 8.0) text-anchor=(anchor) font-size="11" { (date(*d)) }
                }
                @if let Some((limit, name)) = c.limit {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", y(limit as f64))) y2=(format!("{:.1}", y(limit as f64))) stroke="#b3261e" stroke-dasharray="6 4" {}
                    text x=(W - RIGHT) y=(format!("{:.1}", y(limit as f64) - 4.0)) text-anchor="end" font-size="11" fill="#b3261e" { (name) " " (limit) }
                }
                @if let Some((slope, at_today)) = fitted {
                    @let from = (c.today - 29).max(first_day);
                    @let at = |d: i64| at_today + slope * (d - c.today) as f64;
                    line x1=(format!("{:.1}", x(from))) y1=(format!("{:.1}", y(at(from)))) x2=(format!("{:.1}", x(trend_to))) y2=(format!("{:.1}", y(at(trend_to)))) stroke="#6b6b6b" stroke-dasharray="3 3" {}
                }
                @if let Some(d) = shown_reach {
                    line x1=(format!("{:.1}", x(d))) x2=(format!("{:.1}", x(d))) y1=(TOP) y2=(H - BOTTOM) stroke="#b3261e" {}
                }
                polyline fill="none" stroke="#0b5cad" stroke-width="2" points=(line.join(" ")) {}
                // Each day a dot, so a single day is seen (and read out) too.
                @for &(d, n) in c.points.iter().filter(|(d, _)| *d >= first_day) {
                    circle cx=(format!("{:.1}", x(d))) cy=(format!("{:.1}", y(n as f64))) r="2.5" fill="#0b5cad" {
                        title { (date(d)) ": " (n) }
                    }
                }
            }
            figcaption { (summary) "." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_axis_tops_at_a_round_number() {
        assert_eq!(nice_ceiling(0), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(110), 200);
        assert_eq!(nice_ceiling(1_100), 2_000);
        assert_eq!(nice_ceiling(450), 500);
    }

    #[test]
    fn one_day_is_a_dated_dot_and_the_caption_says_what_it_shows() {
        let today = 20_000;
        let points = [(today, 3)];
        let chart = seat_chart(&SeatChart {
            title: "Seats used",
            points: &points,
            limit: Some((5, "plan limit")),
            reached_on: None,
            today,
            days: 90,
        })
        .into_string();
        assert!(chart.contains("<circle"), "{chart}");
        assert!(chart.contains(&date(today)), "the date axis names today");
        assert!(chart.contains("plan limit 5"), "{chart}");
        assert!(chart.contains("not reached within a year"), "{chart}");
    }

    #[test]
    fn a_projected_date_is_marked_and_named() {
        let today = 20_000;
        let points: Vec<(i64, i64)> = (0..10).map(|i| (today - 9 + i, 10 * i)).collect();
        let chart = seat_chart(&SeatChart {
            title: "Seats used",
            points: &points,
            limit: Some((120, "plan limit")),
            reached_on: Some(today + 3),
            today,
            days: 90,
        })
        .into_string();
        assert!(chart.contains(&format!("reached on {}", date(today + 3))), "{chart}");
        assert!(chart.contains("stroke-dasharray=\"3 3\""), "the fitted line is drawn");
    }
}
