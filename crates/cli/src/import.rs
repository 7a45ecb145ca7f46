//! `rollcall import` and `rollcall export users`: files in, files out, streamed.

use crate::args::{ExportCmd, ExportFormat, ImportArgs, ShowFormat, StatusArg};
use anyhow::{Context as _, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use rollcall_core::domain::UserStatus;
use rollcall_core::service::{ImportOptions, MAX_PAGE, Outcome, RosterSync, RowReport, UserFilter};
use rollcall_core::{Context, Error, Service};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Data rows in the file (lines after the header), for the progress bar's total.
fn count_rows(path: &std::path::Path) -> Result<u64> {
    let file = std::fs::File::open(path).with_context(|| format!("can't open {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut lines = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
    Ok(lines.saturating_sub(1))
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::Refused => "refused",
        Outcome::Skipped => "skipped",
    }
}

pub async fn import(service: &Service, args: ImportArgs) -> Result<ExitCode> {
    let ctx = Context::new(rollcall_core::Actor::Operator, rollcall_core::Channel::Csv);
    let path = args.file.clone();
    let read = rollcall_csv::ReadOptions {
        ignore_unknown_columns: args.ignore_unknown_columns,
    };
    // Fail on an unreadable file or header now, with one clear line.
    let ignored = rollcall_csv::read_with(
        std::fs::File::open(&path).with_context(|| format!("can't open {}", path.display()))?,
        read,
    )
    .map_err(|e| anyhow!("{}: {e}", path.display()))?
    .ignored()
    .to_vec();
    let total = count_rows(&path)?;
    let interactive = std::io::stderr().is_terminal();
    let bar = if interactive {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows, {per_sec}, ETA {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message("importing");
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut source = || -> rollcall_core::Result<Box<dyn Iterator<Item = rollcall_core::service::Parsed> + Send>> {
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::invalid("file", format!("can't open {}: {e}", path.display())))?;
        let rows = rollcall_csv::read_with(file, read).map_err(|e| Error::invalid("file", e.to_string()))?;
        Ok(Box::new(rows))
    };
    let opts = ImportOptions {
        partial: args.partial,
        update_existing: args.update_existing,
        update_only: args.update_only,
        dry_run: args.dry_run,
        send_welcome: args.no_welcome.then_some(false),
        sync: RosterSync::from_flags(
            args.sync,
            args.scope_branch.clone(),
            args.reactivate,
            args.allow_large_deactivation,
            args.include_scim,
        )?,
        atomic_rows: None,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let json = args.format == ShowFormat::Json;
    let mut first = true;
    let mut write_error: Option<std::io::Error> = None;
    if json {
        write!(out, "{{\"rows\":[")?;
    } else {
        writeln!(
            out,
            "{:>7}  {:<24}  {:<9}  {:<18}  reason",
            "line", "username", "outcome", "column"
        )?;
    }
    let mut report = |r: RowReport| {
        bar.inc(1);
        let written = if json {
            let sep = if first { "" } else { "," };
            first = false;
            serde_json::to_string(&r)
                .map_err(std::io::Error::other)
                .and_then(|s| write!(out, "{sep}\n{s}"))
        } else {
            writeln!(
                out,
                "{:>7}  {:<24}  {:<9}  {:<18}  {}",
                r.line,
                r.username,
                outcome_name(r.outcome),
                r.column.unwrap_or_default(),
                // An update's changes, field by field, where a refusal gives its reason.
                r.reason
                    .unwrap_or_else(|| r.changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            )
        };
        if let Err(e) = written {
            write_error.get_or_insert(e);
        }
    };
    let result = service.import_users(&ctx, &mut source, opts, &mut report).await;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let mut summary = result?;
    summary.ignored_columns = ignored;
    if json {
        writeln!(out, "\n],\"summary\":{}}}", serde_json::to_string(&summary)?)?;
    }
    out.flush()?;
    drop(out);
    let what = if summary.dry_run { "would be" } else { "were" };
    eprintln!(
        "{} rows: {} {what} created, {} updated, {} unchanged; {} refused; {} skipped; {} seats needed, {} free",
        summary.rows,
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.refused,
        summary.skipped,
        summary.seats_needed,
        summary.seats_free
    );
    if !summary.ignored_columns.is_empty() {
        eprintln!("columns read and not kept: {}", summary.ignored_columns.join(", "));
    }
    if let Some(sync) = &summary.sync {
        let verb = if summary.dry_run || sync.held {
            "would deactivate"
        } else {
            "deactivated"
        };
        if !json {
            for name in &sync.deactivate {
                eprintln!("sync: {verb} {name}");
            }
            for k in &sync.kept {
                eprintln!("sync: kept {} active: {}", k.username, k.reason);
            }
        }
        let done = if summary.dry_run || sync.held {
            sync.deactivate.len() as u64
        } else {
            sync.deactivated
        };
        eprintln!(
            "sync: {done} of the {} active accounts in scope {verb}",
            sync.active_in_scope
        );
        if let Some(reason) = &sync.reason {
            eprintln!("error: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    }
    // A dry run exits as its commit would: 1 when the import would be refused.
    if let Some(refusal) = &summary.refusal {
        let verdict = if summary.dry_run {
            "would be refused"
        } else {
            "was refused"
        };
        eprintln!("error: the import {verdict}: {}", refusal.message);
        return Ok(ExitCode::FAILURE);
    }
    if summary.stopped {
        let written = if summary.dry_run { "would be" } else { "was" };
        eprintln!(
            "error: {} rows were refused, so nothing {written} written; fix them, or import the rest with --partial",
            summary.refused
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn export(service: &Service, ctx: &Context, cmd: ExportCmd) -> Result<()> {
    let ExportCmd::Users {
        status,
        user_type,
        branch,
        group,
        format,
    } = cmd;
    let mut filter = UserFilter {
        status: status.map(|s| match s {
            StatusArg::Active => UserStatus::Active,
            StatusArg::Deactivated => UserStatus::Deactivated,
            StatusArg::Trash => UserStatus::Trash,
        }),
        user_type,
        branch,
        group,
        limit: Some(MAX_PAGE),
        ..UserFilter::default()
    };
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    match format {
        ExportFormat::Csv => {
            let mut exporter = rollcall_csv::Exporter::new(out)?;
            loop {
                let page = service.list_users(ctx, &filter).await?;
                for u in &page.items {
                    exporter.user(u)?;
                }
                match page.next_cursor {
                    Some(c) => filter.cursor = Some(c),
                    None => break,
                }
            }
            exporter.finish()?.flush()?;
        }
        ExportFormat::Json => {
            let mut out = out;
            write!(out, "[")?;
            let mut first = true;
            loop {
                let page = service.list_users(ctx, &filter).await?;
                for u in &page.items {
                    write!(out, "{}\n{}", if first { "" } else { "," }, serde_json::to_string(u)?)?;
                    first = false;
                }
                match page.next_cursor {
                    Some(c) => filter.cursor = Some(c),
                    None => break,
                }
            }
            writeln!(out, "\n]")?;
            out.flush()?;
        }
    }
    Ok(())
}
