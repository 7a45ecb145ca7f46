//! `/metrics` in the Prometheus text format: requests and latencies by route, seats used
//! and limit, users by status.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rollcall_core::Service;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    seats_used: Gauge,
    seat_limit: Gauge,
    users: Family<StatusLabels, Gauge>,
    mail: Family<StatusLabels, Gauge>,
    job_runs: Family<JobLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rollcall");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let (seats_used, seat_limit) = (Gauge::default(), Gauge::default());
        let users = Family::<StatusLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register("seats_used", "Seats in use (active accounts)", seats_used.clone());
        registry.register("seat_limit", "Seats in the plan", seat_limit.clone());
        registry.register("users", "Accounts by status", users.clone());
        let mail = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "mail_outbox",
            "Mail waiting to go out (pending) and given up after repeated failures (dead)",
            mail.clone(),
        );
        let job_runs = Family::<JobLabels, Gauge>::default();
        registry.register(
            "job_runs",
            "Daily job runs recorded in the database (by every instance), by job and outcome",
            job_runs.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            seats_used,
            seat_limit,
            users,
            mail,
            job_runs,
        }
    }
}

impl Metrics {
    /// `route` is the matched route pattern (never the raw path, which could hold ids).
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                route: route.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { method, route })
            .observe(seconds);
    }

    /// Refreshes the gauges from the database and renders everything.
    pub async fn render(&self, service: &Service) -> rollcall_core::Result<String> {
        let snap = service.system().metrics_snapshot().await?;
        self.seats_used.set(snap.seats_used);
        self.seat_limit.set(snap.seat_limit);
        for (status, n) in [
            ("active", snap.seats_used),
            ("deactivated", snap.deactivated),
            ("trash", snap.trash),
        ] {
            self.users.get_or_create(&StatusLabels { status: status.into() }).set(n);
        }
        for (status, n) in [("pending", snap.mail_pending), ("dead", snap.mail_dead)] {
            self.mail.get_or_create(&StatusLabels { status: status.into() }).set(n);
        }
        for (job, outcome, n) in snap.job_runs {
            self.job_runs.get_or_create(&JobLabels { job, outcome }).set(n);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| rollcall_core::Error::internal(e.to_string()))?;
        Ok(out)
    }
}
