//! Delivers the outbox over SMTP (`ROLLCALL_SMTP_URL`, e.g. `smtp://mail.internal:25` or
//! `smtps://user:pass@mail.example.org`). Failures are retried with backoff by the core and
//! end as `dead` after repeated attempts; nothing is lost if the server stops mid-way.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rollcall_core::Service;
use rollcall_core::ports::OutboxMail;
use std::time::Duration;

/// How often the sender looks for due mail.
const POLL: Duration = Duration::from_secs(1);

pub fn spawn(
    service: Service,
    smtp_url: &str,
) -> Result<tokio::task::JoinHandle<()>, Box<dyn std::error::Error + Send + Sync>> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)?.build();
    let from: Mailbox = std::env::var("ROLLCALL_MAIL_FROM")
        .unwrap_or_else(|_| "rollcall <rollcall@localhost>".into())
        .parse()
        .map_err(|e| format!("ROLLCALL_MAIL_FROM: {e}"))?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // One message at a time: each is leased only while it is being sent, so a slow
            // SMTP server can't make a lease run out while the message waits its turn.
            loop {
                match service.system().claim_due_mail(1).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => {
                        for m in batch {
                            deliver(&service, &transport, &from, m).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "can't read the mail outbox");
                        break;
                    }
                }
            }
        }
    }))
}

async fn deliver(service: &Service, transport: &AsyncSmtpTransport<Tokio1Executor>, from: &Mailbox, m: OutboxMail) {
    let id = m.id;
    let built = m
        .to_address
        .parse::<Mailbox>()
        .map_err(|e| e.to_string())
        .and_then(|to| {
            Message::builder()
                .from(from.clone())
                .to(to)
                .subject(&m.subject)
                .body(m.body.clone())
                .map_err(|e| e.to_string())
        });
    let result = match built {
        Ok(message) => transport.send(message).await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let saved = match result {
        Ok(()) => service.system().mail_delivered(m).await,
        Err(e) => {
            tracing::warn!(mail = id, error = %e, "mail delivery failed; will retry");
            service.system().mail_failed(m, &e).await
        }
    };
    if let Err(e) = saved {
        tracing::error!(mail = id, error = %e, "can't record a mail delivery");
    }
}
