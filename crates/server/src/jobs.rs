//! Background jobs of `rollcall serve`, every minute: the daily jobs whose day is due
//! (`system().run_due_jobs()`: scheduled deactivations and reactivations, trash retention,
//! the seat snapshot — each once per day across instances, by its lease and its period's
//! row), audit sealing, sort keys of users an older version stored, pruning expired
//! sessions, sign-in failures and SAML state, refreshing PostgreSQL's planner statistics,
//! and taking over bulk jobs whose instance stopped. Each is safe to run on several instances at once: every user is changed by a
//! conditional update inside the service, sealing queues on the chain head, and a bulk job
//! is claimed by one instance.

use rollcall_core::Service;
use std::time::Duration;

/// Runs every job once now, then every `every`, until the task is dropped.
pub fn spawn(service: Service, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            run_once(&service).await;
        }
    })
}

pub async fn run_once(service: &Service) {
    for (job, result) in service.system().run_due_jobs().await {
        match result {
            Ok(report) => tracing::info!(
                job = %job,
                period = %report.period,
                outcome = %report.outcome,
                actions = report.actions.len(),
                "daily job done"
            ),
            Err(e) => tracing::error!(job = %job, error = %e, "daily job failed"),
        }
    }
    match service.system().fill_missing_sort_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(users = n, "wrote the sort keys of users stored without them"),
        Err(e) => tracing::error!(error = %e, "writing missing sort keys failed"),
    }
    if let Err(e) = service.system().end_lapsed_seat_reservations().await {
        tracing::warn!(error = %e, "giving back the seats of stopped imports failed");
    }
    if let Err(e) = service.system().prune_import_uploads().await {
        tracing::warn!(error = %e, "pruning import uploads failed");
    }
    match service.system().audit_sign_in_failures().await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(entries = n, "wrote failed sign-ins to the audit log"),
        Err(e) => tracing::warn!(error = %e, "writing failed sign-ins to the audit log failed"),
    }
    match service.system().prune_expired().await {
        Ok(p) if p == rollcall_core::service::Pruned::default() => {}
        Ok(p) => tracing::debug!(
            sessions = p.sessions,
            sign_in_failures = p.sign_in_failures,
            sso_state = p.sso_state,
            "pruned expired state"
        ),
        Err(e) => tracing::error!(error = %e, "pruning expired state failed"),
    }
    match service.system().refresh_statistics().await {
        Ok(tables) if tables.is_empty() => {}
        Ok(tables) => tracing::debug!(tables = %tables.join(", "), "refreshed the planner's statistics"),
        Err(e) => tracing::warn!(error = %e, "refreshing the planner's statistics failed"),
    }
    if let Err(e) = service.system().seal_audit().await {
        tracing::error!(error = %e, "audit sealing failed");
    }
    resume_abandoned_bulk_jobs(service).await;
    tracing::debug!("minute jobs done");
}

/// Takes over every bulk job whose instance stopped, each run in its own task so the
/// minute's other jobs aren't held up by a large one.
async fn resume_abandoned_bulk_jobs(service: &Service) {
    loop {
        match service.system().claim_abandoned_job().await {
            Ok(Some(run)) => {
                let job_id = run.job_id;
                tracing::info!(job = job_id, "taking over a bulk job whose instance stopped");
                let service = service.clone();
                tokio::spawn(async move {
                    if let Err(e) = service.system().run_bulk_job(run).await {
                        tracing::error!(job = job_id, error = %e, "bulk job failed");
                    }
                });
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "looking for abandoned bulk jobs failed");
                return;
            }
        }
    }
}
