//! `rollcall idle-policy show | set | preview | run [--confirm]`.

use crate::args::{IdlePolicyCmd, IdlePolicySetArgs, ShowFormat};
use crate::output::{self, fields};
use anyhow::Result;
use rollcall_core::service::{IdlePolicyUpdate, IdlePolicyView, IdleWarningView};
use rollcall_core::{Context, Error, Service};
use serde::Serialize;
use std::process::ExitCode;

/// `--max-share 10` or `10%`: a whole percentage; the service checks the range.
fn percent(s: &str) -> Result<i64, Error> {
    s.trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| Error::invalid("max_share", format!("'{s}' is not a whole percentage (like 10)")))
}

/// A repeated flag given: the list it sets (`''` alone empties it); not given: unchanged.
fn list(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

fn update(a: IdlePolicySetArgs) -> Result<IdlePolicyUpdate, Error> {
    Ok(IdlePolicyUpdate {
        enabled: a.enabled,
        idle_days: a.idle_days,
        never_signed_in_days: a.never_signed_in_days,
        warn_days: a.warn_days,
        grace_days: a.grace_days,
        max_share: a.max_share.as_deref().map(percent).transpose()?,
        exempt_types: list(a.exempt_type),
        exempt_groups: list(a.exempt_group),
        exempt_branches: list(a.exempt_branch),
    })
}

fn names(v: &[String]) -> String {
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

fn show_policy(p: &IdlePolicyView) {
    fields(&[
        ("enabled", p.enabled.to_string()),
        ("idle days", p.idle_days.to_string()),
        ("never signed in days", p.never_signed_in_days.to_string()),
        ("warn days", p.warn_days.to_string()),
        ("grace days", p.grace_days.to_string()),
        ("max share", format!("{}%", p.max_share)),
        ("exempt types", names(&p.exempt_types)),
        ("exempt groups", names(&p.exempt_groups)),
        ("exempt branches", names(&p.exempt_branches)),
    ]);
}

fn show_warned(w: &[IdleWarningView]) {
    println!("warned accounts: {}", w.len());
    for x in w {
        println!("  {}  deactivated on {} unless they sign in", x.username, x.deadline);
    }
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    policy: IdlePolicyView,
    warned: Vec<IdleWarningView>,
}

pub async fn idle_policy(service: &Service, ctx: &Context, cmd: IdlePolicyCmd) -> Result<ExitCode> {
    match cmd {
        IdlePolicyCmd::Show { format } => {
            let policy = service.idle_policy(ctx).await?;
            let warned = service.idle_warnings(ctx).await?;
            match format {
                ShowFormat::Json => output::json(&Shown { policy, warned })?,
                ShowFormat::Table => {
                    show_policy(&policy);
                    show_warned(&warned);
                }
            }
        }
        IdlePolicyCmd::Set(a) => {
            let format = a.format;
            let p = service.set_idle_policy(ctx, update(a)?).await?;
            match format {
                ShowFormat::Json => output::json(&p)?,
                ShowFormat::Table => show_policy(&p),
            }
        }
        IdlePolicyCmd::Preview { format } => {
            let p = service.idle_preview(ctx).await?;
            match format {
                ShowFormat::Json => output::json(&p)?,
                ShowFormat::Table => {
                    if !p.enabled {
                        println!("the policy is off: this is what it would do if it were on");
                    }
                    println!("would warn ({}): {}", p.warn.len(), names(&p.warn));
                    println!("would deactivate ({}): {}", p.deactivate.len(), names(&p.deactivate));
                    println!("seats freed: {}", p.seats_freed);
                    if !p.withdraw.is_empty() {
                        println!("warnings withdrawn: {}", names(&p.withdraw));
                    }
                    if !p.spared.is_empty() {
                        println!("kept as the last administrator: {}", names(&p.spared));
                    }
                    if p.held {
                        println!(
                            "held: {} of {} active accounts is more than the safety cap ({}); a run needs --confirm",
                            p.deactivate.len(),
                            p.active,
                            p.cap
                        );
                    } else {
                        println!("held: no (cap: {} of {} active accounts)", p.cap, p.active);
                    }
                    show_warned(&p.warned);
                }
            }
        }
        IdlePolicyCmd::Run { confirm, format } => {
            let r = service.run_idle_policy(ctx, confirm).await?;
            match format {
                ShowFormat::Json => output::json(&r)?,
                ShowFormat::Table => {
                    println!("warned ({}): {}", r.warned.len(), names(&r.warned));
                    println!("deactivated ({}): {}", r.deactivated.len(), names(&r.deactivated));
                    if !r.withdrawn.is_empty() {
                        println!("warnings withdrawn: {}", names(&r.withdrawn));
                    }
                    println!("seats freed: {}", r.seats_freed);
                }
            }
            if r.held {
                eprintln!(
                    "error: the run would deactivate {} accounts, more than the safety cap allows; nothing was written. Check `rollcall idle-policy preview`, then run again with --confirm",
                    r.would_deactivate
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
