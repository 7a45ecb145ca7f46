//! Delivers the outbox through a [`MailTransport`]: SMTP ([`SmtpTransport`], when
//! `smtp_url` is configured — e.g. `smtp://mail.internal:25` or
//! `smtps://user:pass@mail.example.org`), or memory ([`MemoryTransport`], for tests).
//! Failures are retried with backoff by the core and end as `dead` after repeated attempts;
//! nothing is lost if the server stops mid-way.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rollcall_core::Service;
use rollcall_core::ports::OutboxMail;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the sender looks for due mail.
pub const POLL: Duration = Duration::from_secs(1);

/// One message, ready to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub from: Mailbox,
    pub to: Mailbox,
    pub subject: String,
    pub body: String,
}

/// Where messages go. An error is the reason the message wasn't accepted; it is retried.
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    async fn send(&self, mail: Mail) -> Result<(), String>;
}

/// An SMTP server (lettre).
pub struct SmtpTransport(AsyncSmtpTransport<Tokio1Executor>);

impl SmtpTransport {
    pub fn new(smtp_url: &str) -> Result<SmtpTransport, lettre::transport::smtp::Error> {
        Ok(SmtpTransport(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)?.build(),
        ))
    }

    /// Whether the SMTP server at `smtp_url` answers and greets (connect, EHLO, and TLS and
    /// login where the URL asks for them), within `timeout`; the reason when it doesn't.
    pub async fn check(smtp_url: &str, timeout: Duration) -> Result<(), String> {
        let transport: AsyncSmtpTransport<Tokio1Executor> = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| e.to_string())?
            .timeout(Some(timeout))
            .build();
        match tokio::time::timeout(timeout, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("the server did not accept the connection".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} seconds", timeout.as_secs())),
        }
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: Mail) -> Result<(), String> {
        let html = html_part(&mail.body);
        let message = Message::builder()
            .message_id(None)
            .date_now()
            .from(mail.from)
            .to(mail.to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.body, html))
            .map_err(|e| e.to_string())?;
        self.0.send(message).await.map(drop).map_err(|e| e.to_string())
    }
}

/// The HTML part of a message: its text as paragraphs (a blank line between them), its line
/// breaks kept, every character escaped by maud — the same words as the plain part.
fn html_part(text: &str) -> String {
    maud::html! {
        (maud::DOCTYPE)
        html {
            head { meta charset="utf-8"; }
            body {
                @for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
                    p {
                        @for (i, line) in paragraph.lines().enumerate() {
                            @if i > 0 { br; }
                            (line)
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// Keeps what is sent, for whoever reads it (tests).
#[derive(Default)]
pub struct MemoryTransport(Mutex<Vec<Mail>>);

impl MemoryTransport {
    /// What was sent since the last call, oldest first.
    pub fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl MailTransport for MemoryTransport {
    async fn send(&self, mail: Mail) -> Result<(), String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(mail);
        Ok(())
    }
}

/// Takes due messages from the outbox and hands them to the transport.
#[derive(Clone)]
pub struct MailSender {
    service: Service,
    transport: Arc<dyn MailTransport>,
    from: Mailbox,
}

impl MailSender {
    pub fn new(service: Service, transport: Arc<dyn MailTransport>, from: Mailbox) -> MailSender {
        MailSender {
            service,
            transport,
            from,
        }
    }

    /// Sends every message due now (that no other sender holds); returns how many the
    /// transport accepted.
    pub async fn send_due(&self) -> usize {
        let mut sent = 0;
        // One message at a time: each is leased only while it is being sent, so a slow
        // SMTP server can't make a lease run out while the message waits its turn.
        loop {
            match self.service.system().claim_due_mail(1).await {
                Ok(batch) if batch.is_empty() => return sent,
                Ok(batch) => {
                    for m in batch {
                        if self.deliver(m).await {
                            sent += 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "can't read the mail outbox");
                    return sent;
                }
            }
        }
    }

    /// Sends due mail every `poll`, until the task is dropped.
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.send_due().await;
            }
        })
    }

    async fn deliver(&self, m: OutboxMail) -> bool {
        let id = m.id;
        let result = match m.to_address.parse::<Mailbox>() {
            Ok(to) => {
                let mail = Mail {
                    from: self.from.clone(),
                    to,
                    subject: m.subject.clone(),
                    body: m.body.clone(),
                };
                self.transport.send(mail).await
            }
            Err(e) => Err(e.to_string()),
        };
        let delivered = result.is_ok();
        let saved = match result {
            Ok(()) => self.service.system().mail_delivered(m).await,
            Err(e) => {
                tracing::warn!(mail = id, error = %e, "mail delivery failed; will retry");
                self.service.system().mail_failed(m, &e).await
            }
        };
        if let Err(e) = saved {
            tracing::error!(mail = id, error = %e, "can't record a mail delivery");
        }
        delivered
    }
}
