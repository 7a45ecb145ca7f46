//! Each command: parse its arguments into a service call as the CLI operator, print the
//! result. Rules are decided by the service, never here.

use crate::args::*;
use crate::output::{self, Table, emit, fields, opt};
use anyhow::{Context as _, Result, anyhow};
use rollcall_core::domain::{Area, PlanTier, TokenScope, UserStatus, parse_time};
use rollcall_core::service::*;
use rollcall_core::{Context, Entity, Error, Service};
use rollcall_server::app::{App, KeyCheck, open_service};
use rollcall_server::config::{Config, Flags, LogFormat};
use rollcall_store::SqlStore;
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// One line that says what went wrong and what to do.
pub fn explain(e: &anyhow::Error) -> String {
    let Some(core) = e.downcast_ref::<Error>() else {
        return format!("{e:#}");
    };
    match core {
        Error::NotFound {
            kind: Entity::User,
            key,
        } => {
            format!("user '{key}' not found (rollcall user list shows who exists)")
        }
        Error::NotFound {
            kind: Entity::UserType,
            key,
        } => {
            format!("user type '{key}' not found (rollcall type list shows the types)")
        }
        Error::NotFound { kind, key } => {
            format!("{kind} '{key}' not found (rollcall {kind} list shows what exists)")
        }
        Error::InvalidInput { .. }
        | Error::Forbidden(_)
        | Error::UsernameTaken(_)
        | Error::EmailTaken(_)
        | Error::SeatLimitReached { .. }
        | Error::BranchSeatCapReached { .. }
        | Error::PlanFeatureUnavailable { .. }
        | Error::ConfirmationRequired(_)
        | Error::RuleViolated { .. }
        | Error::Conflict { .. }
        | Error::RateLimited { .. }
        | Error::Internal(_) => core.to_string(),
        Error::Unauthenticated => "the acting user is not active".into(),
    }
}

/// Opens the service as configured, refusing an audit key the log wasn't sealed with.
/// Whether `path` holds a SQLite file, as `rollcall backup` writes.
fn check_backup(path: &std::path::Path) -> Result<()> {
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .with_context(|| format!("can't read the backup {}", path.display()));
    read?;
    if &header != b"SQLite format 3\0" {
        return Err(anyhow!(
            "{} is not a rollcall backup (a SQLite file, as rollcall backup writes)",
            path.display()
        ));
    }
    Ok(())
}

/// Copies the installation at `source_url` into the empty database at `target_url`, then
/// checks the copy: each table's row count on both sides, and the audit chain on the
/// target. The source's chain is verified first, with this installation's audit key: a
/// copy that could never verify (the wrong key file, a broken chain) isn't started.
async fn transfer(config: &Config, ctx: &Context, source_url: &str, target_url: &str) -> Result<ExitCode> {
    let source = SqlStore::connect_existing(source_url).await?;
    let source_config = Config {
        database_url: source_url.to_owned(),
        ..config.clone()
    };
    let before = open_service(&source_config, KeyCheck::Report)
        .await?
        .verify_audit_against(ctx, None)
        .await?;
    if let Some(p) = before.problem {
        eprintln!(
            "error: the source's audit chain does not verify with the audit key in {} (at position {}, {}); nothing was copied",
            config.audit_key_file.display(),
            p.position,
            p.reason
        );
        return Ok(ExitCode::FAILURE);
    }
    let target = SqlStore::connect(target_url).await?;
    target.migrate().await?;
    let counts = source.copy_into(&target).await;
    target.close().await;
    source.close().await;
    let counts = counts?;
    let mut table = Table::new(&["TABLE", "SOURCE", "TARGET"]);
    for c in &counts {
        table.row(vec![c.table.clone(), c.source.to_string(), c.target.to_string()]);
    }
    emit(Format::Table, &table, &())?;
    let differ: Vec<&str> = counts
        .iter()
        .filter(|c| c.source != c.target)
        .map(|c| c.table.as_str())
        .collect();
    if !differ.is_empty() {
        eprintln!(
            "error: the copy's row counts differ from the source's in {}",
            differ.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let target_config = Config {
        database_url: target_url.to_owned(),
        ..config.clone()
    };
    let verified = open_service(&target_config, KeyCheck::Report)
        .await?
        .verify_audit_against(ctx, None)
        .await?;
    let rows: u64 = counts.iter().map(|c| c.target).sum();
    match verified.problem {
        None => {
            eprintln!(
                "copied {rows} rows in {} tables to {}; every table's count matches, and the audit chain verifies there ({} entries, head {}:{})",
                counts.len(),
                rollcall_store::redact_url(target_url),
                verified.sealed,
                verified.head_seq,
                verified.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            eprintln!(
                "error: the rows were copied, but the audit chain does not verify on the target: at position {}, {} (rollcall audit verify on the source tells whether it did there)",
                p.position, p.reason
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn open(config: &Config) -> Result<Service> {
    let service = open_service(config, KeyCheck::Refuse).await?;
    // Kept, so that when the command is done it can say whether it queued mail.
    let _ = OPENED.set(service.clone());
    Ok(service)
}

/// The service a command opened with [`open`].
static OPENED: std::sync::OnceLock<Service> = std::sync::OnceLock::new();

/// Mail queued by a command of a process that knows no base URL carries no working link
/// back to rollcall (its sign-in address is relative): said once, after the command.
fn warn_of_mail_without_base_url(has_base_url: bool) {
    let queued = OPENED.get().map_or(0, Service::mail_queued);
    if queued > 0 && !has_base_url {
        eprintln!(
            "warning: {queued} {} queued with no base URL configured, so {} no working link to rollcall; set ROLLCALL_BASE_URL (or base_url in rollcall.toml) for commands that send mail",
            if queued == 1 { "message was" } else { "messages were" },
            if queued == 1 { "it carries" } else { "they carry" },
        );
    }
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("can't read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(anyhow!("--password-stdin: standard input held no password"));
    }
    Ok(password)
}

fn parse_areas(names: &[String]) -> Result<Vec<Area>> {
    Ok(names
        .iter()
        .map(|n| Area::parse(n))
        .collect::<rollcall_core::Result<_>>()?)
}

/// `none` (or `never`) clears an optional value.
fn clearable(s: &str) -> Option<&str> {
    (!matches!(s.trim().to_ascii_lowercase().as_str(), "none" | "never")).then_some(s)
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let (listen, base_url) = match &cli.command {
        Command::Serve(args) => (args.listen.clone(), args.base_url.clone()),
        _ => (None, None),
    };
    let config = Config::load(Flags {
        database: cli.database,
        listen,
        base_url,
        audit_key_file: cli.audit_key_file,
        jobs_hour: cli.jobs_hour,
        time_zone: cli.time_zone,
    });
    // The doctor reports a configuration that doesn't load as one of its checks.
    if let Command::Doctor { format } = cli.command {
        return crate::doctor::doctor(config, format).await;
    }
    let config = config?;
    let url = &config.database_url;
    let ctx = Context::cli();
    let has_base_url = config.base_url.is_some();
    let outcome = match cli.command {
        Command::Serve(_) => serve(config).await,
        Command::Doctor { .. } => unreachable!("answered before the configuration is required"),
        Command::Sso(cmd) => sso(&open(&config).await?, &ctx, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Backup { path } => {
            let store = SqlStore::connect(url).await?;
            store.migrate().await?;
            store.backup(&path).await?;
            eprintln!("backed up to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { path } => {
            check_backup(&path)?;
            transfer(&config, &ctx, &format!("sqlite://{}", path.display()), url).await
        }
        Command::MigrateData { from, to } => {
            if from == to {
                return Err(anyhow!("--from and --to name the same database"));
            }
            transfer(&config, &ctx, &from, &to).await
        }
        Command::Migrate => {
            SqlStore::connect(url).await?.migrate().await?;
            eprintln!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user(&open(&config).await?, &ctx, cmd).await,
        Command::Type(cmd) => user_type(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Branch(cmd) => branch(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Group(cmd) => group(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Plan(cmd) => plan(&open(&config).await?, &ctx, cmd).await.map(|()| ExitCode::SUCCESS),
        Command::Report(cmd) => report(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Audit(cmd) => audit(&open_service(&config, KeyCheck::Report).await?, &ctx, cmd).await,
        Command::IdlePolicy(cmd) => crate::idle::idle_policy(&open(&config).await?, &ctx, cmd).await,
        Command::Settings(cmd) => settings(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Token(cmd) => token(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Jobs(cmd) => jobs(&open(&config).await?, &ctx, cmd).await,
        Command::Course(cmd) => course(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Enroll {
            username,
            code,
            role,
            format,
        } => {
            let role = rollcall_core::domain::CourseRole::parse(&role)?;
            let e = open(&config)
                .await?
                .enroll(&ctx, &UserKey::from(username.as_str()), &code, role)
                .await?;
            changed(format, &e, || {
                println!("enrolled {} in {} as {}", e.username, e.course, e.role)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Progress {
            username,
            code,
            complete_unit,
            format,
        } => {
            let e = open(&config)
                .await?
                .complete_unit(&ctx, &UserKey::from(username.as_str()), &code, complete_unit)
                .await?;
            changed(format, &e, || {
                println!(
                    "{} in {}: {} of {} units, {}%{}",
                    e.username,
                    e.course,
                    e.units_completed,
                    e.units,
                    e.progress_pct,
                    if e.completed_at.is_some() { ", completed" } else { "" }
                )
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => crate::import::import(&open(&config).await?, args).await,
        Command::Export(cmd) => crate::import::export(&open(&config).await?, &ctx, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Mail(MailCmd::List { limit, format }) => {
            let mails = open(&config).await?.list_mail(&ctx, limit).await?;
            let mut t = Table::new(&[
                "id",
                "created_at",
                "to",
                "template",
                "subject",
                "status",
                "attempts",
                "sent_at",
            ]);
            for m in &mails {
                t.row(vec![
                    m.id.to_string(),
                    m.created_at.clone(),
                    m.to.clone(),
                    m.template.clone(),
                    m.subject.clone(),
                    m.status.clone(),
                    m.attempts.to_string(),
                    opt(&m.sent_at),
                ]);
            }
            emit(format, &t, &mails)?;
            Ok(ExitCode::SUCCESS)
        }
    };
    warn_of_mail_without_base_url(has_base_url);
    outcome
}

async fn serve(config: Config) -> Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).context("ROLLCALL_LOG is not a valid filter")?;
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // Colour codes only for a person at a terminal, never into a file or a journal.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line: the event's fields at the top level, and the request's span
        // (method, path, request id) beside them.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    let app = App::build(config).await?;
    if let Some(admin) = app.first_admin() {
        match &admin.generated_password {
            // Shown once, on the terminal only; it is never logged.
            Some(password) => eprintln!(
                "created administrator '{}' with password: {password}  (shown once; change it)",
                admin.username
            ),
            None => eprintln!(
                "created administrator '{}' with the password from ROLLCALL_ADMIN_PASSWORD",
                admin.username
            ),
        }
    }
    let shutdown = rollcall_server::shutdown_signal().context("can't listen for SIGTERM")?;
    eprintln!("listening on http://{}", app.local_addr()?);
    app.serve(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

fn user_rows(users: &[UserView]) -> Table {
    let mut t = Table::new(&[
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "user_type",
        "branches",
        "groups",
        "status",
        "created_at",
        "last_login_at",
    ]);
    for u in users {
        t.row(vec![
            u.id.to_string(),
            u.username.clone(),
            u.email.clone(),
            u.first_name.clone(),
            u.last_name.clone(),
            u.user_type.clone(),
            u.branches.join("|"),
            u.groups.join("|"),
            u.status.to_string(),
            u.created_at.clone(),
            u.last_login_at.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// The single sign-on subject a user is linked to, as one more line of `show_user`.
async fn show_sso_link(service: &Service, ctx: &Context, id: i64) -> Result<()> {
    let link = service
        .sso_link_of(ctx, &UserKey::Id(rollcall_core::domain::UserId(id)))
        .await?;
    let shown = link.map_or_else(|| "not linked".to_owned(), |l| format!("{} at {}", l.subject, l.idp));
    fields(&[("single sign-on", shown)]);
    Ok(())
}

fn show_user(u: &UserView) {
    fields(&[
        ("id", u.id.to_string()),
        ("username", u.username.clone()),
        ("email", u.email.clone()),
        ("name", format!("{} {}", u.first_name, u.last_name)),
        ("user type", u.user_type.clone()),
        ("status", u.status.to_string()),
        ("branches", u.branches.join(", ")),
        ("groups", u.groups.join(", ")),
        ("origin", u.origin.to_string()),
        ("external id", opt(&u.external_id)),
        ("created", u.created_at.clone()),
        ("last login", u.last_login_at.clone().unwrap_or_else(|| "never".into())),
        ("deactivated", opt(&u.deactivated_at)),
        ("deleted", opt(&u.deleted_at)),
        ("deactivates on", opt(&u.deactivate_at)),
        ("reactivates on", opt(&u.reactivate_at)),
        (
            "idle policy",
            if u.idle_exempt {
                "exempt".into()
            } else {
                "applies".into()
            },
        ),
        (
            "idle warning",
            u.idle_deadline
                .as_ref()
                .map_or_else(|| "-".into(), |d| format!("deactivation on {d} unless they sign in")),
        ),
        (
            "emails",
            if u.exclude_from_emails {
                "excluded".into()
            } else {
                "sent".into()
            },
        ),
    ]);
}

/// Runs `f` for each username; reports each outcome and fails if any failed.
/// The outcome of a command that changed something: the changed object as JSON, or the
/// line a person reads.
fn changed<T: serde::Serialize + ?Sized>(format: ShowFormat, value: &T, line: impl FnOnce()) -> Result<()> {
    match format {
        ShowFormat::Json => output::json(value),
        ShowFormat::Table => {
            line();
            Ok(())
        }
    }
}

/// `user list`'s filters as the service takes them.
fn user_filter(f: UserFilterArgs) -> UserFilter {
    UserFilter {
        status: f.status.map(|s| match s {
            StatusArg::Active => UserStatus::Active,
            StatusArg::Deactivated => UserStatus::Deactivated,
            StatusArg::Trash => UserStatus::Trash,
        }),
        user_type: f.user_type,
        branch: f.branch,
        group: f.group,
        idle_days: f.idle_days,
        never_logged_in: f.never_logged_in,
        search: f.search,
        limit: Some(MAX_PAGE),
        ..UserFilter::default()
    }
}

/// Every user a filter matches, page by page.
async fn every_user(service: &Service, ctx: &Context, mut filter: UserFilter) -> Result<Vec<UserView>> {
    let mut users = vec![];
    loop {
        let page = service.list_users(ctx, &filter).await?;
        users.extend(page.items);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return Ok(users),
        }
    }
}

/// The usernames a command for many users acts on: those named, or those the filters pick.
/// Without `--status`, the filters pick only users the change applies to (`usual`: the
/// active to deactivate, the deactivated to activate).
async fn many_users(service: &Service, ctx: &Context, many: &ManyUsers, usual: StatusArg) -> Result<Vec<String>> {
    match (many.usernames.is_empty(), many.filter.is_empty()) {
        (false, true) => Ok(many.usernames.clone()),
        (true, false) => {
            let filter = user_filter(UserFilterArgs {
                status: Some(many.filter.status.unwrap_or(usual)),
                user_type: many.filter.user_type.clone(),
                branch: many.filter.branch.clone(),
                group: many.filter.group.clone(),
                idle_days: many.filter.idle_days,
                never_logged_in: many.filter.never_logged_in,
                search: many.filter.search.clone(),
            });
            Ok(every_user(service, ctx, filter)
                .await?
                .into_iter()
                .map(|u| u.username)
                .collect())
        }
        (false, false) => Err(anyhow!("name the users or pick them with filters, not both")),
        (true, true) => Err(anyhow!(
            "name the users, or pick them with the filters of `user list` (--idle-days 90, --branch …)"
        )),
    }
}

/// What a command for many users would change, changing nothing.
fn dry_run(usernames: &[String], verb: &str, format: ShowFormat) -> Result<ExitCode> {
    if format == ShowFormat::Json {
        println!(
            "{}",
            serde_json::json!({ "dry_run": true, "would": verb, "users": usernames })
        );
    } else {
        for name in usernames {
            println!("would {verb} {name}");
        }
        eprintln!("{} users would be changed; nothing was written", usernames.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `f` for each user, in turn, reporting each outcome (a progress bar on a terminal
/// when there are many). Exits 1 when any failed.
async fn each<F, Fut>(usernames: &[String], verb: &str, format: ShowFormat, f: F) -> Result<ExitCode>
where
    F: Fn(UserKey) -> Fut,
    Fut: std::future::Future<Output = rollcall_core::Result<UserView>>,
{
    let bar = if usernames.len() > 1 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(usernames.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut failed = 0;
    let mut outcomes = vec![];
    for name in usernames {
        let outcome = f(UserKey::from(name.as_str())).await;
        bar.inc(1);
        match outcome {
            Ok(u) if format == ShowFormat::Json => {
                outcomes.push(serde_json::json!({ "username": u.username, "ok": true, "status": u.status }))
            }
            Ok(u) => bar.suspend(|| println!("{verb} {} (status: {})", u.username, u.status)),
            Err(e) => {
                failed += 1;
                if format == ShowFormat::Json {
                    outcomes.push(
                        serde_json::json!({ "username": name, "ok": false, "code": e.code(), "message": e.to_string() }),
                    );
                } else {
                    let e = anyhow::Error::from(e);
                    bar.suspend(|| eprintln!("error: {name}: {}", explain(&e)));
                }
            }
        }
    }
    bar.finish_and_clear();
    if format == ShowFormat::Json {
        println!("{}", serde_json::Value::Array(outcomes));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn user(service: &Service, ctx: &Context, cmd: UserCmd) -> Result<ExitCode> {
    match cmd {
        UserCmd::Add(a) => {
            let password = if a.password_stdin { Some(read_password()?) } else { None };
            let deactivate_at = a
                .deactivate_on
                .as_deref()
                .map(|d| parse_time("deactivate_on", d))
                .transpose()?;
            let reactivate_at = a
                .reactivate_on
                .as_deref()
                .map(|d| parse_time("reactivate_on", d))
                .transpose()?;
            let input = NewUser {
                username: a.username,
                email: a.email,
                first_name: a.first_name,
                last_name: a.last_name,
                password,
                user_type: a.user_type,
                branches: a.branches,
                groups: a.groups,
                active: !a.deactivated,
                external_id: a.external_id,
                exclude_from_emails: a.exclude_from_emails,
                deactivate_at,
                reactivate_at,
                send_welcome: a.no_welcome.then_some(false),
                idle_exempt: false,
            };
            let u = service.create_user(ctx, input).await?;
            changed(a.format, &u, || {
                println!("added {} ({}, {}, id {})", u.username, u.user_type, u.status, u.id)
            })?;
        }
        UserCmd::List(l) => {
            let filter = UserFilter {
                sort: l.sort,
                ..user_filter(l.filter)
            };
            let users = every_user(service, ctx, filter).await?;
            emit(l.format, &user_rows(&users), &users)?;
        }
        UserCmd::Show { username, format } => {
            let u = service.get_user(ctx, &UserKey::from(username.as_str())).await?;
            match format {
                ShowFormat::Json => output::json(&u)?,
                ShowFormat::Table => {
                    show_user(&u);
                    show_sso_link(service, ctx, u.id).await?;
                }
            }
        }
        UserCmd::Set(s) => {
            let password = if s.password_stdin { Some(read_password()?) } else { None };
            let deactivate_at = match s.deactivate_on.as_deref() {
                None => None,
                Some(d) => Some(clearable(d).map(|d| parse_time("deactivate_on", d)).transpose()?),
            };
            let reactivate_at = match s.reactivate_on.as_deref() {
                None => None,
                Some(d) => Some(clearable(d).map(|d| parse_time("reactivate_on", d)).transpose()?),
            };
            let upd = UserUpdate {
                username: s.rename,
                user_type: s.user_type,
                email: s.email,
                first_name: s.first_name,
                last_name: s.last_name,
                password,
                add_branches: s.add_branch,
                remove_branches: s.remove_branch,
                add_groups: s.add_group,
                remove_groups: s.remove_group,
                external_id: s.external_id.as_deref().map(|e| clearable(e).map(str::to_owned)),
                exclude_from_emails: s.exclude_from_emails.map(|x| matches!(x, YesNo::Yes)),
                idle_exempt: s.idle_exempt,
                deactivate_at,
                reactivate_at,
                sso_subject: match (s.no_sso_subject, s.sso_subject) {
                    (true, _) => Some(None),
                    (false, Some(n)) if n.trim().is_empty() => Some(None),
                    (false, n) => n.map(Some),
                },
            };
            let u = service
                .update_user(ctx, &UserKey::from(s.username.as_str()), upd)
                .await?;
            if s.format == ShowFormat::Json {
                output::json(&u)?;
            } else {
                println!("updated {}", u.username);
                show_user(&u);
                show_sso_link(service, ctx, u.id).await?;
            }
        }
        UserCmd::Deactivate(many) => {
            let targets = many_users(service, ctx, &many, StatusArg::Active).await?;
            if many.dry_run {
                return dry_run(&targets, "deactivate", many.format);
            }
            return each(&targets, "deactivated", many.format, |k| async move {
                service.deactivate_user(ctx, &k).await
            })
            .await;
        }
        UserCmd::Activate(many) => {
            let targets = many_users(service, ctx, &many, StatusArg::Deactivated).await?;
            if many.dry_run {
                return dry_run(&targets, "activate", many.format);
            }
            return each(&targets, "activated", many.format, |k| async move {
                service.activate_user(ctx, &k).await
            })
            .await;
        }
        UserCmd::Delete {
            username,
            confirm,
            purge,
            reassign_courses_to,
            format,
        } => {
            let to = reassign_courses_to.as_deref().map(UserKey::from);
            match service
                .delete_user(
                    ctx,
                    &UserKey::from(username.as_str()),
                    confirm.as_deref(),
                    purge,
                    to.as_ref(),
                )
                .await?
            {
                Some(u) => changed(format, &u, || {
                    println!(
                        "moved {} to the trash (rollcall user restore {} brings them back)",
                        u.username, u.username
                    )
                })?,
                None => changed(
                    format,
                    &serde_json::json!({ "username": username, "erased": true }),
                    || println!("erased {username}: the account and its records are gone"),
                )?,
            }
        }
        UserCmd::Restore { username, format } => {
            let u = service.restore_user(ctx, &UserKey::from(username.as_str())).await?;
            changed(format, &u, || {
                println!(
                    "restored {} (status: {}; rollcall user activate {} gives them a seat)",
                    u.username, u.status, u.username
                )
            })?;
        }
        UserCmd::Offboard {
            username,
            reassign_courses_to,
            format,
        } => {
            let to = reassign_courses_to.as_deref().map(UserKey::from);
            let r = service
                .offboard(ctx, &UserKey::from(username.as_str()), to.as_ref())
                .await?;
            changed(format, &r, || {
                println!(
                    "offboarded {} (status: {}); {} course(s) reassigned{}; tokens revoked",
                    r.user.username,
                    r.user.status,
                    r.courses_reassigned,
                    r.new_owner.as_deref().map(|o| format!(" to {o}")).unwrap_or_default()
                )
            })?;
        }
        UserCmd::Export { username } => {
            output::json(&service.export_subject(ctx, &UserKey::from(username.as_str())).await?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn user_type(service: &Service, ctx: &Context, cmd: TypeCmd) -> Result<()> {
    let print = |t: &TypeView| {
        println!(
            "{} (base {}): {}",
            t.name,
            t.base,
            t.areas.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        )
    };
    match cmd {
        TypeCmd::List { format } => {
            let types = service.list_types(ctx).await?;
            let mut t = Table::new(&["name", "base", "builtin", "areas"]);
            for x in &types {
                t.row(vec![
                    x.name.clone(),
                    x.base.to_string(),
                    x.builtin.to_string(),
                    x.areas.iter().map(|a| a.name()).collect::<Vec<_>>().join(","),
                ]);
            }
            emit(format, &t, &types)?;
        }
        TypeCmd::Create {
            name,
            base,
            deny,
            format,
        } => {
            let t = service.create_type(ctx, &name, &base, &parse_areas(&deny)?).await?;
            changed(format, &t, || print(&t))?;
        }
        TypeCmd::Edit {
            name,
            allow,
            deny,
            format,
        } => {
            let t = service
                .edit_type(ctx, &name, &parse_areas(&allow)?, &parse_areas(&deny)?)
                .await?;
            changed(format, &t, || print(&t))?;
        }
        TypeCmd::Delete { name, format } => {
            service.delete_type(ctx, &name).await?;
            changed(format, &serde_json::json!({ "deleted": name }), || {
                println!("deleted user type {name}")
            })?;
        }
    }
    Ok(())
}

async fn branch(service: &Service, ctx: &Context, cmd: BranchCmd) -> Result<()> {
    match cmd {
        BranchCmd::Add {
            name,
            default_type,
            seat_cap,
            description,
            format,
        } => {
            let b = service
                .add_branch(
                    ctx,
                    NewBranch {
                        name,
                        description,
                        default_type,
                        seat_cap,
                    },
                )
                .await?;
            changed(format, &b, || println!("added branch {} (slug {})", b.name, b.slug))?;
        }
        BranchCmd::List { format } => {
            let branches = service.list_branches(ctx).await?;
            let mut t = Table::new(&["name", "slug", "default_type", "active_users", "seat_cap"]);
            for b in &branches {
                t.row(vec![
                    b.name.clone(),
                    b.slug.clone(),
                    opt(&b.default_type),
                    b.active_users.to_string(),
                    b.seat_cap.map_or("-".into(), |c| c.to_string()),
                ]);
            }
            emit(format, &t, &branches)?;
        }
        BranchCmd::Set {
            name,
            default_type,
            seat_cap,
            format,
        } => {
            let cap = match seat_cap.as_deref() {
                None => None,
                Some(c) => Some(
                    clearable(c)
                        .map(|c| {
                            c.trim()
                                .parse::<i64>()
                                .map_err(|_| anyhow!("--seat-cap: '{c}' is not a number or 'none'"))
                        })
                        .transpose()?,
                ),
            };
            let default_type = default_type.as_deref().map(|t| clearable(t).map(str::to_owned));
            let b = service.set_branch(ctx, &name, default_type, cap).await?;
            changed(format, &b, || {
                println!(
                    "branch {}: default type {}, seat cap {}",
                    b.name,
                    opt(&b.default_type),
                    b.seat_cap.map_or("none".into(), |c| c.to_string())
                )
            })?;
        }
    }
    Ok(())
}

async fn group(service: &Service, ctx: &Context, cmd: GroupCmd) -> Result<()> {
    match cmd {
        GroupCmd::Add {
            name,
            branch,
            key,
            description,
            format,
        } => {
            let g = service
                .add_group(
                    ctx,
                    NewGroup {
                        name,
                        description,
                        branch,
                        key,
                    },
                )
                .await?;
            changed(format, &g, || println!("added group {}", g.name))?;
        }
        GroupCmd::List { format } => {
            let groups = service.list_groups(ctx).await?;
            let mut t = Table::new(&["name", "branch", "key", "members"]);
            for g in &groups {
                t.row(vec![g.name.clone(), opt(&g.branch), opt(&g.key), g.members.to_string()]);
            }
            emit(format, &t, &groups)?;
        }
        GroupCmd::AddMember {
            group,
            usernames,
            format,
        } => {
            let keys: Vec<UserKey> = usernames.iter().map(|u| UserKey::from(u.as_str())).collect();
            let n = service.add_group_members(ctx, &group, &keys).await?;
            let outcome = serde_json::json!({ "group": group, "added": n, "already_members": keys.len() - n });
            changed(format, &outcome, || {
                println!("added {n} member(s) to {group} ({} already in it)", keys.len() - n)
            })?;
        }
        GroupCmd::RemoveMember {
            group,
            usernames,
            format,
        } => {
            let keys: Vec<UserKey> = usernames.iter().map(|u| UserKey::from(u.as_str())).collect();
            let n = service.remove_group_members(ctx, &group, &keys).await?;
            changed(format, &serde_json::json!({ "group": group, "removed": n }), || {
                println!("removed {n} member(s) from {group}")
            })?;
        }
        GroupCmd::AddCourse { group, code, format } => {
            let n = service.add_group_course(ctx, &group, &code).await?;
            changed(
                format,
                &serde_json::json!({ "group": group, "course": code, "enrolled": n }),
                || println!("course {code} is on group {group}; {n} member(s) enrolled"),
            )?;
        }
    }
    Ok(())
}

async fn plan(service: &Service, ctx: &Context, cmd: PlanCmd) -> Result<()> {
    let (p, format) = match cmd {
        PlanCmd::Show { format } => (service.plan(ctx).await?, format),
        PlanCmd::Set { plan, seats, format } => (service.set_plan(ctx, PlanTier::parse(&plan)?, seats).await?, format),
    };
    match format {
        ShowFormat::Json => output::json(&serde_json::json!({
            "plan": p.tier.name(), "seat_limit": p.seat_limit, "seats_used": p.seats_used, "seats_free": p.seats_free(),
        }))?,
        ShowFormat::Table => fields(&[
            ("plan", p.tier.name().into()),
            (
                "seats",
                format!("{} of {} used, {} free", p.seats_used, p.seat_limit, p.seats_free()),
            ),
        ]),
    }
    Ok(())
}

async fn report(service: &Service, ctx: &Context, cmd: ReportCmd) -> Result<()> {
    match cmd {
        ReportCmd::Seats { format } => {
            let r = service.seat_report(ctx).await?;
            let mut t = Table::new(&["scope", "name", "active", "limit"]);
            t.row(vec![
                "plan".into(),
                r.plan.unwrap_or("-").into(),
                r.used.to_string(),
                r.limit.map_or("-".into(), |l| l.to_string()),
            ]);
            for x in &r.by_type {
                let (name, n) = (&x.user_type, x.active);
                t.row(vec!["type".into(), name.clone(), n.to_string(), "-".into()]);
            }
            for b in &r.by_branch {
                t.row(vec![
                    "branch".into(),
                    b.branch.clone(),
                    b.active.to_string(),
                    b.cap.map_or("-".into(), |c| c.to_string()),
                ]);
            }
            if let (Format::Table, Some(limit), Some(free), Some(plan)) = (format, r.limit, r.free, r.plan) {
                println!("{} of {limit} seats used, {free} free ({plan} plan)", r.used);
                if let Some(f) = &r.forecast {
                    let change = |c: Option<i64>| c.map_or("no history".into(), |n| format!("{n:+}"));
                    println!(
                        "change over 30 days: {}, over 90 days: {}",
                        change(f.change_30_days),
                        change(f.change_90_days)
                    );
                    match &f.limit_reached_on {
                        Some(d) => println!("limit reached on {d} at the current rate ({})", f.method),
                        None => println!("limit not reached within a year at the current rate ({})", f.method),
                    }
                }
                if let Some(s) = &r.scheduled {
                    println!(
                        "next 30 days: {} scheduled deactivations, {} reactivations, {} by the idle policy; {} seats used if all happen",
                        s.deactivations.len(),
                        s.reactivations.len(),
                        s.idle_deactivations.len(),
                        s.used_in_30_days
                    );
                }
                println!();
            }
            emit(format, &t, &r)?;
        }
        ReportCmd::Idle { days, format } if format != Format::Table => {
            // Streamed a page at a time: a million idle accounts are not held in memory.
            let mut filter = UserFilter {
                limit: Some(MAX_PAGE),
                ..idle_filter(days)
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if format == Format::Json {
                writeln!(out, "{{\"days\": {}, \"users\": [", serde_json::to_string(&days)?)?;
            }
            let mut rows: u64 = 0;
            loop {
                let page = service.list_users(ctx, &filter).await?;
                if format == Format::Json {
                    for u in &page.items {
                        let sep = if rows == 0 { "" } else { ",\n" };
                        write!(out, "{sep}{}", serde_json::to_string(u)?)?;
                        rows += 1;
                    }
                } else {
                    user_rows(&page.items).write_csv_part(&mut out, rows == 0)?;
                    rows += page.items.len() as u64;
                }
                match page.next_cursor {
                    Some(c) => filter.cursor = Some(c),
                    None => break,
                }
            }
            if format == Format::Json {
                writeln!(out, "\n], \"seats_held\": {rows}}}")?;
            } else if rows == 0 {
                user_rows(&[]).write_csv_part(&mut out, true)?;
            }
            out.flush()?;
        }
        ReportCmd::Idle { days, format } => {
            let r = service.idle_report(ctx, days).await?;
            if format == Format::Table {
                let what = days.map_or("never signed in".into(), |d| format!("not signed in for {d} days"));
                println!(
                    "{} active accounts {what}; they hold {} seats\n",
                    r.users.len(),
                    r.seats_held
                );
            }
            emit(format, &user_rows(&r.users), &r)?;
        }
    }
    Ok(())
}

async fn audit(service: &Service, ctx: &Context, cmd: AuditCmd) -> Result<ExitCode> {
    match cmd {
        AuditCmd::List {
            since,
            actor,
            target,
            limit,
            format,
        } => {
            let filter = AuditFilter {
                since: since.as_deref().map(|s| parse_time("since", s)).transpose()?,
                actor,
                target,
                // The CLI's `audit list` flags are CONTRACT.md's; the action filter is the API's and the console's.
                action: None,
                before: None,
                limit: Some(limit),
            };
            let entries = service.list_audit(ctx, &filter).await?;
            let mut t = Table::new(&["id", "at", "channel", "actor", "action", "target", "changes"]);
            for e in &entries {
                let target = e
                    .target
                    .clone()
                    .or_else(|| e.target_id.map(|id| format!("#{id}")))
                    .unwrap_or_default();
                let actor = e.actor.clone().unwrap_or_else(|| e.actor_kind.clone());
                t.row(vec![
                    e.id.to_string(),
                    e.at.clone(),
                    e.channel.clone(),
                    actor,
                    e.action.clone(),
                    target,
                    e.changes.to_string(),
                ]);
            }
            emit(format, &t, &entries)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Verify { expect_head } => {
            let expect = match &expect_head {
                None => None,
                Some(h) => {
                    let (seq, hash) = h
                        .split_once(':')
                        .and_then(|(s, h)| Some((s.trim().parse::<i64>().ok()?, h.trim())))
                        .ok_or_else(|| anyhow!("--expect-head takes SEQ:HASH, as `audit verify` printed it"))?;
                    Some((seq, hash))
                }
            };
            let r = service.verify_audit_against(ctx, expect).await?;
            let head = format!("{}:{}", r.head_seq, r.head_hash);
            let refused = (!r.refused.is_empty()).then(|| {
                let each: Vec<String> = r
                    .refused
                    .iter()
                    .map(|x| format!("entry {} ({})", x.entry_id, x.reason))
                    .collect();
                format!(
                    "{} audit rows were refused by the sealer and kept out of the chain: {}",
                    r.refused.len(),
                    each.join("; ")
                )
            });
            match (&r.problem, refused) {
                (None, None) => {
                    println!(
                        "audit chain intact: {} entries verified ({} with personal data erased by purges), {} not yet sealed",
                        r.sealed, r.erased, r.unsealed
                    );
                    if let Some((seq, _)) = expect {
                        println!("the chain still reaches the kept head at position {seq}, unchanged");
                    }
                    if r.keyed_from > 1 {
                        println!(
                            "entries before position {} were sealed before audit entries were authenticated (an upgrade); they are checked by their hashes only",
                            r.keyed_from
                        );
                    }
                    println!(
                        "sealed head: {head}  (keep it elsewhere; check against it later with --expect-head {head})"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                (None, Some(refused)) => {
                    eprintln!(
                        "error: {refused}; the chain itself verifies ({} entries, sealed head {head}) — find out who wrote those rows, then delete them",
                        r.sealed
                    );
                    Ok(ExitCode::FAILURE)
                }
                (Some(p), refused) => {
                    let at = p
                        .entry_id
                        .map_or(format!("after chain position {}", p.position - 1), |id| {
                            format!("at entry {id} (chain position {})", p.position)
                        });
                    let also = refused.map(|r| format!("; also, {r}")).unwrap_or_default();
                    eprintln!(
                        "error: audit chain broken {at}: {}; {} entries before it verified{also}",
                        p.reason,
                        p.position - 1
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

async fn jobs(service: &Service, ctx: &Context, cmd: JobsCmd) -> Result<ExitCode> {
    match cmd {
        JobsCmd::List { format } => {
            let jobs = service.list_jobs(ctx).await?;
            match format {
                ShowFormat::Json => output::json(&jobs)?,
                ShowFormat::Table => {
                    let mut t = Table::new(&["name", "last_run", "outcome", "next_run"]);
                    for j in &jobs {
                        t.row(vec![
                            j.name.clone(),
                            j.last_run.clone().unwrap_or_else(|| "never".into()),
                            opt(&j.outcome),
                            j.next_run.clone(),
                        ]);
                    }
                    emit(Format::Table, &t, &jobs)?;
                }
            }
        }
        JobsCmd::Run { name, dry_run, format } => {
            let report = service.run_job(ctx, &name, dry_run).await?;
            match format {
                ShowFormat::Json => output::json(&report)?,
                ShowFormat::Table => {
                    let verb = if report.dry_run { "would do" } else { "did" };
                    println!(
                        "{} for {}: {} ({verb} {} thing(s))",
                        report.name,
                        report.period,
                        if report.dry_run {
                            "dry run"
                        } else {
                            report.outcome.as_str()
                        },
                        report.actions.len()
                    );
                    for a in &report.actions {
                        match &a.note {
                            Some(n) => println!("  {} {} ({n})", a.action, a.target),
                            None => println!("  {} {}", a.action, a.target),
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn settings(service: &Service, ctx: &Context, cmd: SettingsCmd) -> Result<()> {
    match cmd {
        SettingsCmd::Show { format } => {
            let all = service.settings(ctx).await?;
            let mut t = Table::new(&["key", "value", "default"]);
            for s in &all {
                t.row(vec![s.key.into(), s.value.clone(), s.default.clone()]);
            }
            emit(format, &t, &all)?;
        }
        SettingsCmd::Set { key, value, format } => {
            let s = service.set_setting(ctx, &key, &value).await?;
            changed(format, &s, || println!("{} = {}", s.key, s.value))?;
        }
    }
    Ok(())
}

async fn token(service: &Service, ctx: &Context, cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            scope,
            user,
            expires,
            format,
        } => {
            let scope = TokenScope::parse(&scope)?;
            let expires_at = expires.as_deref().map(|e| parse_time("expires", e)).transpose()?;
            let user = user.as_deref().map(UserKey::from);
            let issued = service
                .create_token(ctx, &name, scope, user.as_ref(), expires_at)
                .await?;
            eprintln!("token '{}' created; it is shown once — store it now", issued.view.name);
            changed(format, &issued, || println!("{}", issued.token))?;
        }
        TokenCmd::List { format } => {
            let tokens = service.list_tokens(ctx).await?;
            let mut t = Table::new(&["name", "scope", "user", "created_at", "expires_at", "revoked_at"]);
            for x in &tokens {
                t.row(vec![
                    x.name.clone(),
                    x.scope.to_string(),
                    opt(&x.user),
                    x.created_at.clone(),
                    opt(&x.expires_at),
                    opt(&x.revoked_at),
                ]);
            }
            emit(format, &t, &tokens)?;
        }
        TokenCmd::Revoke { name, format } => {
            let t = service.revoke_token(ctx, &name).await?;
            changed(format, &t, || println!("revoked token {}", t.name))?;
        }
    }
    Ok(())
}

async fn course(service: &Service, ctx: &Context, cmd: CourseCmd) -> Result<()> {
    match cmd {
        CourseCmd::Add {
            code,
            name,
            owner,
            units,
            description,
            format,
        } => {
            let input = NewCourse {
                code,
                name,
                description,
                owner: Some(owner),
                units,
                status: None,
            };
            let c = service.create_course(ctx, input).await?;
            changed(format, &c, || {
                println!(
                    "added course {} ({}, {} units, owner {})",
                    c.code, c.name, c.units, c.owner
                )
            })?;
        }
        CourseCmd::List {
            owner,
            orphaned,
            format,
        } => {
            let courses = service.list_courses(ctx, owner.as_deref(), orphaned).await?;
            match format {
                ShowFormat::Json => output::json(&courses)?,
                ShowFormat::Table => {
                    let mut t = Table::new(&["code", "name", "owner", "units", "status"]);
                    for c in &courses {
                        t.row(vec![
                            c.code.clone(),
                            c.name.clone(),
                            c.owner.clone(),
                            c.units.to_string(),
                            c.status.to_string(),
                        ]);
                    }
                    emit(Format::Table, &t, &courses)?;
                }
            }
        }
    }
    Ok(())
}

async fn sso(service: &Service, ctx: &Context, cmd: SsoCmd) -> Result<()> {
    match cmd {
        SsoCmd::Set {
            idp_metadata,
            jit,
            no_jit,
            default_type,
            default_branch,
            allow_idp_initiated,
            map,
            format,
        } => {
            let xml = std::fs::read_to_string(&idp_metadata)
                .with_context(|| format!("can't read {}", idp_metadata.display()))?;
            let md = rollcall_saml::parse_idp_metadata(&xml).map_err(|e| anyhow!("{}: {e}", idp_metadata.display()))?;
            let mut mappings = std::collections::BTreeMap::new();
            for m in map {
                let (attr, field) = m
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--map {m}: write SAML_ATTRIBUTE=field"))?;
                mappings.insert(attr.trim().to_owned(), field.trim().to_owned());
            }
            let config = SsoConfig {
                idp_entity_id: md.entity_id,
                sso_url: md.sso_url,
                signing_certs: md.signing_certs,
                jit: jit || !no_jit,
                default_type,
                default_branch,
                allow_idp_initiated,
                mappings,
            };
            let c = service.set_sso(ctx, config).await?;
            changed(format, &c, || {
                println!(
                    "single sign-on with {} ({} signing certificate(s)); just-in-time accounts {}",
                    c.idp_entity_id,
                    c.signing_certs.len(),
                    if c.jit { "on" } else { "off" }
                )
            })?;
        }
        SsoCmd::Show => match service.show_sso(ctx).await? {
            Some(c) => output::json(&c)?,
            None => println!("single sign-on is not configured"),
        },
        SsoCmd::Disable { format } => {
            service.disable_sso(ctx).await?;
            changed(format, &serde_json::json!({ "sso": "disabled" }), || {
                println!("single sign-on disabled")
            })?;
        }
    }
    Ok(())
}
