//! The command line, as CONTRACT.md fixes it.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "rollcall: who is in your learning platform, with what access, holding which seat"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH (created if missing) or postgres://…
    /// [env: ROLLCALL_DATABASE_URL] [default: sqlite://rollcall.db, or `database` in ./rollcall.toml]
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,

    /// The file holding the key audit entries are authenticated with; created (mode 0600)
    /// when missing. Every process on one database needs the same one: back it up with it
    /// [env: ROLLCALL_AUDIT_KEY_FILE] [default: ./rollcall.audit-key, or `audit_key_file` in ./rollcall.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub audit_key_file: Option<String>,

    /// The hour (0-23, local time in --time-zone) the daily jobs run at
    /// [env: ROLLCALL_JOBS_HOUR] [default: 3, or `jobs_hour` in ./rollcall.toml]
    #[arg(long, global = true, value_name = "HOUR")]
    pub jobs_hour: Option<String>,

    /// The IANA time zone the daily jobs' hour and scheduled dates (--deactivate-on,
    /// --reactivate-on) are in [env: ROLLCALL_TIME_ZONE] [default: UTC, or `time_zone` in
    /// ./rollcall.toml]
    #[arg(long, global = true, value_name = "ZONE")]
    pub time_zone: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Migrate, then serve HTTP until SIGTERM
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit
    Migrate,
    /// Add, list, change, deactivate, activate, delete and restore users
    #[command(subcommand)]
    User(UserCmd),
    /// User types: list, clone from a built-in type, edit feature areas, delete
    #[command(subcommand, name = "type")]
    Type(TypeCmd),
    /// Branches: sub-organisations with a default user type and an optional seat cap
    #[command(subcommand)]
    Branch(BranchCmd),
    /// Groups of users
    #[command(subcommand)]
    Group(GroupCmd),
    /// The plan in force and its seats
    #[command(subcommand)]
    Plan(PlanCmd),
    /// Seat and idle-account reports
    #[command(subcommand)]
    Report(ReportCmd),
    /// The hash-chained audit log
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Platform settings
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// The idle-account policy: warn, then deactivate accounts nobody uses
    #[command(subcommand, name = "idle-policy")]
    IdlePolicy(IdlePolicyCmd),
    /// API and SCIM tokens
    #[command(subcommand)]
    Token(TokenCmd),
    /// The mail outbox
    #[command(subcommand)]
    Mail(MailCmd),
    /// SAML single sign-on: the identity provider and what its sign-ins do
    #[command(subcommand)]
    Sso(SsoCmd),
    /// Write a consistent copy of the database to PATH, a new SQLite file, while the server
    /// runs (PostgreSQL too: one snapshot of every table)
    Backup {
        /// The new SQLite file to write
        path: std::path::PathBuf,
    },
    /// Check the installation without changing it: configuration, database and schema,
    /// audit key, SMTP, base URL against cookie security, the IdP's certificates. Exits 1
    /// when a check fails; what is merely unset is a warning
    Doctor {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Copy a backup (a file `rollcall backup` wrote) into the configured database, which
    /// must be empty; then compare row counts and verify the audit chain
    Restore {
        /// The backup file to read
        path: std::path::PathBuf,
    },
    /// Move a whole installation from one database to another (SQLite to PostgreSQL, say);
    /// the target must be empty. Row counts and the audit chain are verified afterwards
    #[command(name = "migrate-data")]
    MigrateData {
        /// The database that holds the installation (sqlite://PATH or postgres://…)
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty database to move it to
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Courses: add and list
    #[command(subcommand)]
    Course(CourseCmd),
    /// Enroll a user in a course
    Enroll {
        /// The user to enroll
        username: String,
        /// The course's code
        code: String,
        /// As a learner or as an instructor
        #[arg(long, default_value = "learner", value_name = "learner|instructor")]
        role: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Record a user's progress in a course
    Progress {
        /// The learner
        username: String,
        /// The course's code
        code: String,
        /// The unit completed (units are taken in order)
        #[arg(long, value_name = "N")]
        complete_unit: i64,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Import users from a CSV file (rollcall's columns or TalentLMS's import headers)
    Import(ImportArgs),
    /// Export users as CSV (importable as is) or JSON
    #[command(subcommand)]
    Export(ExportCmd),
    /// The daily jobs: list them, or run one now
    #[command(subcommand)]
    Jobs(JobsCmd),
}

#[derive(Subcommand)]
pub enum JobsCmd {
    /// Each daily job: its last run, that run's outcome, and its next run
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Run a daily job now (scheduled-lifecycle, trash-purge, seat-snapshot, idle-policy,
    /// seat-alerts); never while another run of it is under way
    Run {
        /// The job to run
        name: String,
        /// Report what it would do; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum SsoCmd {
    /// Configure the identity provider from its metadata
    Set {
        /// The IdP's SAML metadata (EntityDescriptor) file
        #[arg(long, value_name = "FILE")]
        idp_metadata: std::path::PathBuf,
        /// Create accounts at first sign-in (the default)
        #[arg(long, conflicts_with = "no_jit")]
        jit: bool,
        /// Create no accounts at sign-in: only linked accounts sign in
        #[arg(long)]
        no_jit: bool,
        /// User type of accounts created at sign-in (never an administrator type)
        #[arg(long, value_name = "NAME", default_value = "learner")]
        default_type: String,
        /// The branch of accounts created at sign-in
        #[arg(long, value_name = "B")]
        default_branch: Option<String>,
        /// Accept sign-ins the IdP starts (unsolicited responses)
        #[arg(long)]
        allow_idp_initiated: bool,
        /// Read a field from a SAML attribute: ATTRIBUTE=email|first_name|last_name|username
        #[arg(long, value_name = "SAML_ATTRIBUTE=field")]
        map: Vec<String>,
        /// Output format: a line, or the configuration as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// The identity provider as configured
    Show,
    /// Switch single sign-on off (passwords become everyone's way in again)
    Disable {
        /// Output format: a line, or the outcome as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum CourseCmd {
    /// Create a course
    Add {
        /// The course's code (unique)
        code: String,
        /// The course's title
        #[arg(long)]
        name: String,
        /// The user who owns the course (an instructor or above)
        #[arg(long, value_name = "U")]
        owner: String,
        /// How many units the course has
        #[arg(long, default_value_t = 1)]
        units: i64,
        /// What the course is about
        #[arg(long, default_value = "")]
        description: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// List courses
    List {
        /// Only courses owned by this user
        #[arg(long, value_name = "U")]
        owner: Option<String>,
        /// Only courses whose owner is not active
        #[arg(long)]
        orphaned: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file
    pub file: std::path::PathBuf,
    /// Write nothing; report what each row would do
    #[arg(long)]
    pub dry_run: bool,
    /// Update users matched by username instead of refusing them
    #[arg(long)]
    pub update_existing: bool,
    /// Only update users matched by username; a row naming no account is refused
    #[arg(long)]
    pub update_only: bool,
    /// Skip columns rollcall doesn't know (a full TalentLMS export's Timezone, Last login,
    /// custom fields …) instead of refusing the file; the summary names them
    #[arg(long)]
    pub ignore_unknown_columns: bool,
    /// Write the good rows even when others are refused
    #[arg(long)]
    pub partial: bool,
    /// Send no welcome emails
    #[arg(long)]
    pub no_welcome: bool,
    /// Roster sync: the file is the whole list of who should be active; active accounts in
    /// scope it doesn't list are deactivated (never deleted, records kept)
    #[arg(long)]
    pub sync: bool,
    /// Sync only the accounts of this branch
    #[arg(long, value_name = "B", requires = "sync")]
    pub scope_branch: Option<String>,
    /// Sync: reactivate deactivated accounts the file lists
    #[arg(long, requires = "sync")]
    pub reactivate: bool,
    /// Sync: deactivate even past the deletion guard (settings sync_max_deactivation_share,
    /// sync_max_deactivations)
    #[arg(long, requires = "sync")]
    pub allow_large_deactivation: bool,
    /// Sync: include accounts the identity provider manages over SCIM
    #[arg(long, requires = "sync")]
    pub include_scim: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Users in the import columns (CSV) or as JSON
    Users {
        /// Only users with this status
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only users of this type
        #[arg(long = "type", value_name = "NAME")]
        user_type: Option<String>,
        /// Only users in this branch
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// Only users in this group
        #[arg(long, value_name = "G")]
        group: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Subcommand)]
pub enum MailCmd {
    /// Messages in the outbox, newest first (bodies may hold set-password links)
    List {
        /// At most this many messages
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Issue a token; it is printed alone on stdout, once, and stored only as a hash
    Create {
        /// The token's name (unique): how the list and the audit log show it
        #[arg(long)]
        name: String,
        /// api: the REST API, acting as --user; scim: the SCIM server, for an identity provider
        #[arg(long, value_name = "api|scim")]
        scope: String,
        /// The user an API token acts as (with that user's current permissions)
        #[arg(long, value_name = "U")]
        user: Option<String>,
        /// Expiry (YYYY-MM-DD or RFC 3339); default: never
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// List tokens (never their secrets)
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Revoke a token by name; it stops working at once
    Revoke {
        /// The token to revoke
        name: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port [env: ROLLCALL_LISTEN] [default:
    /// 127.0.0.1:8080, or `listen` in ./rollcall.toml]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Public base URL of this server [env: ROLLCALL_BASE_URL] [default: `base_url` in
    /// ./rollcall.toml, else http://<listen address>]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ShowFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Active,
    Deactivated,
    Trash,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user (active, taking a seat, unless --deactivated)
    Add(UserAdd),
    /// List users (active and deactivated; --status trash lists the trash)
    List(UserList),
    /// Show one user
    Show {
        /// The user to show
        username: String,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Change a user's type, branches, groups, names, email or schedule
    Set(Box<UserSet>),
    /// Deactivate users, named or picked by the filters of `user list` (`--idle-days 90
    /// --dry-run`): frees their seats, keeps every record
    Deactivate(ManyUsers),
    /// Activate users, named or picked by the filters of `user list`: each needs a free seat
    Activate(ManyUsers),
    /// Move a user to the trash (restorable), or erase them now with --purge
    Delete {
        /// The user to delete
        username: String,
        /// The username again, to confirm
        #[arg(long, value_name = "USERNAME")]
        confirm: Option<String>,
        /// Erase at once instead of keeping the user in the trash
        #[arg(long)]
        purge: bool,
        /// Who takes over the courses the user owns
        #[arg(long, value_name = "V")]
        reassign_courses_to: Option<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Bring a user back from the trash, deactivated
    Restore {
        /// The user to bring back
        username: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Deactivate, reassign owned courses, end sessions and revoke tokens, in one step
    Offboard {
        /// The user who leaves
        username: String,
        /// Who takes over the courses the user owns
        #[arg(long, value_name = "V")]
        reassign_courses_to: Option<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Everything held about a user, as JSON: profile, enrollments, certificates, audit
    Export {
        /// The user whose records to export
        username: String,
    },
}

#[derive(Args)]
pub struct UserAdd {
    /// Login name: letters, digits and . _ - @ + ' (unique, ignoring case)
    #[arg(long)]
    pub username: String,
    /// Email address (unique, ignoring case)
    #[arg(long)]
    pub email: String,
    /// First name
    #[arg(long)]
    pub first_name: String,
    /// Last name
    #[arg(long)]
    pub last_name: String,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// User type name [default: the branch's default type, else learner]
    #[arg(long = "type", value_name = "NAME")]
    pub user_type: Option<String>,
    /// A branch the user belongs to (repeat for several)
    #[arg(long = "branch", value_name = "B")]
    pub branches: Vec<String>,
    /// A group the user belongs to (repeat for several)
    #[arg(long = "group", value_name = "G")]
    pub groups: Vec<String>,
    /// Create the account deactivated (it takes no seat)
    #[arg(long)]
    pub deactivated: bool,
    /// Deactivate automatically on this date (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub deactivate_on: Option<String>,
    /// Leave of absence: reactivate on this date (YYYY-MM-DD, a day in --time-zone), if a
    /// seat is free then
    #[arg(long, value_name = "DATE")]
    pub reactivate_on: Option<String>,
    /// The HR system's or identity provider's id for this user
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Send this user no email at all
    #[arg(long)]
    pub exclude_from_emails: bool,
    /// Don't send the welcome email
    #[arg(long)]
    pub no_welcome: bool,
    /// Output format: a line, or the changed object as JSON
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

#[derive(Args)]
pub struct UserList {
    #[command(flatten)]
    pub filter: UserFilterArgs,
    /// Order by username, name, email, last_login or created (default); -COLUMN descends
    #[arg(long, value_name = "COLUMN", allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// The filters of `user list`, also taken by the commands that change many users.
#[derive(Args, Default)]
pub struct UserFilterArgs {
    /// Only users with this status
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only users of this type
    #[arg(long = "type", value_name = "NAME")]
    pub user_type: Option<String>,
    /// Only users in this branch
    #[arg(long, value_name = "B")]
    pub branch: Option<String>,
    /// Only users in this group
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Never signed in, or not in N days
    #[arg(long, value_name = "N", conflicts_with = "never_logged_in")]
    pub idle_days: Option<i64>,
    /// Only users who never signed in
    #[arg(long)]
    pub never_logged_in: bool,
    /// Part of a username, email, first or last name
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

impl UserFilterArgs {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.user_type.is_none()
            && self.branch.is_none()
            && self.group.is_none()
            && self.idle_days.is_none()
            && !self.never_logged_in
            && self.search.is_none()
    }
}

/// Users to change: named, or every user the filters match.
#[derive(Args)]
pub struct ManyUsers {
    /// The users, by username (or pick them with the filters instead)
    pub usernames: Vec<String>,
    #[command(flatten)]
    pub filter: UserFilterArgs,
    /// List whom it would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: a line per user, or JSON (the outcome per user)
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

#[derive(Args)]
pub struct UserSet {
    /// The user to change
    pub username: String,
    /// Give the account a new username
    #[arg(long, value_name = "NEW")]
    pub rename: Option<String>,
    /// Give the user this type
    #[arg(long = "type", value_name = "NAME")]
    pub user_type: Option<String>,
    /// Add the user to this branch (repeat for several)
    #[arg(long, value_name = "B")]
    pub add_branch: Vec<String>,
    /// Take the user out of this branch (repeat for several)
    #[arg(long, value_name = "B")]
    pub remove_branch: Vec<String>,
    /// Add the user to this group (repeat for several)
    #[arg(long, value_name = "G")]
    pub add_group: Vec<String>,
    /// Take the user out of this group (repeat for several)
    #[arg(long, value_name = "G")]
    pub remove_group: Vec<String>,
    /// A new email address
    #[arg(long)]
    pub email: Option<String>,
    /// A new first name
    #[arg(long)]
    pub first_name: Option<String>,
    /// A new last name
    #[arg(long)]
    pub last_name: Option<String>,
    /// Schedule deactivation (YYYY-MM-DD or RFC 3339), or `never` to clear it
    #[arg(long, value_name = "DATE")]
    pub deactivate_on: Option<String>,
    /// Leave of absence: reactivate the (deactivated) account on this date (YYYY-MM-DD, a
    /// day in --time-zone) if a seat is free then, or `never` to clear it
    #[arg(long, value_name = "DATE")]
    pub reactivate_on: Option<String>,
    /// Read a new password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// yes: send this user no email at all; no: send it again
    #[arg(long, value_name = "yes|no")]
    pub exclude_from_emails: Option<YesNo>,
    /// `none` clears it
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Link the account to this NameID at the configured SAML identity provider, so single
    /// sign-on finds it (`''` unlinks)
    #[arg(long, value_name = "NAMEID", conflicts_with = "no_sso_subject")]
    pub sso_subject: Option<String>,
    /// Unlink the account from single sign-on
    #[arg(long)]
    pub no_sso_subject: bool,
    /// Exempt the account from the idle-account policy (never warned or deactivated by it)
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub idle_exempt: Option<bool>,
    /// Output format: a line, or the changed object as JSON
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

#[derive(Subcommand)]
pub enum TypeCmd {
    /// List user types and their feature areas
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Clone a custom type from a built-in one, minus the areas denied (based on
    /// administrator or branch-administrator: a limited administrator)
    Create {
        /// The new type's name
        name: String,
        /// The built-in type it is cloned from
        #[arg(long, value_name = "administrator|branch-administrator|instructor|learner")]
        base: String,
        /// Switch off a feature area of the base
        #[arg(long, value_name = "AREA")]
        deny: Vec<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Switch feature areas on (never beyond the base) or off
    Edit {
        /// The custom type to change
        name: String,
        /// Switch on a feature area of the base (repeat for several)
        #[arg(long, value_name = "AREA")]
        allow: Vec<String>,
        /// Switch off a feature area (repeat for several)
        #[arg(long, value_name = "AREA")]
        deny: Vec<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Delete an unused custom type
    Delete {
        /// The custom type to delete
        name: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum BranchCmd {
    /// Create a branch
    Add {
        /// The branch's name
        name: String,
        /// The user type of users created in this branch with none given
        #[arg(long, value_name = "NAME")]
        default_type: Option<String>,
        /// At most this many active users in this branch
        #[arg(long, value_name = "N")]
        seat_cap: Option<i64>,
        /// What the branch is
        #[arg(long, default_value = "")]
        description: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// List branches with their default types, seat caps and active users
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Change a branch's default type or seat cap (`none` clears either)
    Set {
        /// The branch to change
        name: String,
        /// The user type of users created in this branch with none given
        #[arg(long, value_name = "NAME")]
        default_type: Option<String>,
        /// At most this many active users in this branch
        #[arg(long, value_name = "N")]
        seat_cap: Option<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a group
    Add {
        /// The group's name
        name: String,
        /// The branch the group belongs to (none: the whole platform)
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// The code a learner types to join
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// What the group is
        #[arg(long, default_value = "")]
        description: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// List groups
    List {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Add users to a group (and to its courses)
    AddMember {
        /// The group
        group: String,
        /// The users to add
        #[arg(required = true)]
        usernames: Vec<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Put a course on a group: its members are enrolled, now and when they join
    AddCourse {
        /// The group
        group: String,
        /// The course's code
        code: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Take users out of a group
    RemoveMember {
        /// The group
        group: String,
        /// The users to take out
        #[arg(required = true)]
        usernames: Vec<String>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum PlanCmd {
    /// The plan, its seat limit and the seats used
    Show {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Record the plan bought: free, core, grow, pro, or enterprise with --seats
    Set {
        /// free, core, grow, pro or enterprise
        plan: String,
        /// The seat limit (enterprise)
        #[arg(long, value_name = "N")]
        seats: Option<i64>,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Seats used and free, by type and branch
    Seats {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Active accounts never signed in, or not in N days
    Idle {
        /// Not signed in for at least this many days (default: never signed in)
        #[arg(long, value_name = "N")]
        days: Option<i64>,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Newest entries first
    List {
        /// YYYY-MM-DD or RFC 3339
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Only entries by this user
        #[arg(long, value_name = "U")]
        actor: Option<String>,
        /// Only entries about this user
        #[arg(long, value_name = "U")]
        target: Option<String>,
        /// At most this many entries
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Check the hash chain; names the first entry edited, removed or reordered, and rows the
    /// sealer refused. Prints the sealed head (SEQ:HASH): keep it elsewhere
    Verify {
        /// A head printed earlier: fails when the chain no longer reaches it (cut off) or
        /// holds another entry there (rewritten)
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Every setting with its value and default
    Show {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Change a setting
    #[command(after_help = SETTINGS_HELP)]
    Set {
        /// The setting (listed below)
        key: String,
        /// Its new value
        value: String,
        /// Output format: a line, or the changed object as JSON
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Subcommand)]
pub enum IdlePolicyCmd {
    /// The policy as set (off by default), and the accounts warned with their deadlines
    Show {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Change the policy. Each exemption list given replaces the stored one (`''` empties it)
    Set(IdlePolicySetArgs),
    /// Exactly who a run would warn and deactivate now, the seats freed, and whether the
    /// safety cap holds it back
    Preview {
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
    /// Warn and deactivate what the preview lists. Past --max-share it writes nothing and
    /// exits 1, unless --confirm
    Run {
        /// Deactivate past the safety cap
        #[arg(long)]
        confirm: bool,
        /// Output format
        #[arg(long, value_enum, default_value = "table")]
        format: ShowFormat,
    },
}

#[derive(Args)]
pub struct IdlePolicySetArgs {
    /// Switch the policy on or off
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub enabled: Option<bool>,
    /// Idle after N days without a sign-in (0: at once)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub idle_days: Option<i64>,
    /// Idle after M days for an account that never signed in, counted from its creation
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    pub never_signed_in_days: Option<i64>,
    /// Warn by email K days before the deactivation (0: no warning)
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub warn_days: Option<i64>,
    /// A reactivated account is left alone for G days (default 14; 0: no grace)
    #[arg(long, value_name = "G", allow_negative_numbers = true)]
    pub grace_days: Option<i64>,
    /// A run deactivating more than this percentage of the active accounts waits for
    /// confirmation (default 10)
    #[arg(long, value_name = "PERCENT", allow_negative_numbers = true)]
    pub max_share: Option<String>,
    /// Never deactivate users of this type (repeat for several)
    #[arg(long, value_name = "NAME")]
    pub exempt_type: Vec<String>,
    /// Never deactivate members of this group (repeat for several)
    #[arg(long, value_name = "G")]
    pub exempt_group: Vec<String>,
    /// Never deactivate users of this branch (repeat for several)
    #[arg(long, value_name = "B")]
    pub exempt_branch: Vec<String>,
    /// Output format: the policy as set, as a table or JSON
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShowFormat,
}

/// The settings, their values and defaults, for `settings set --help`.
const SETTINGS_HELP: &str = "Settings (KEY VALUES [default]):
  welcome_email                on|off [on]: mail new accounts a welcome (and a set-password link)
  scim_delete                  deactivate|delete [deactivate]: what a SCIM DELETE does
  deletion_retention_days      N [30]: days a deleted user stays restorable in the trash
  scim_link_existing           on|off [off]: SCIM may take over accounts made outside it (by userName)
  scim_link_existing_groups    on|off [off]: SCIM sees, finds and links groups made in rollcall
  scim_default_type            TYPE [learner]: the type SCIM gives when the IdP sends none or an unknown one
  scim_department              create|existing|off [create]: what the enterprise department does to branches
  sso_link_existing            off|username|email [off]: a first single sign-on may link an unlinked account
  trusted_proxies              CIDR,CIDR… [none]: proxies whose X-Forwarded-For is believed
  sync_max_deactivation_share  0-100 [10]: a roster sync deactivating a larger share is held back
  sync_max_deactivations       N [50]: a roster sync deactivating more is held back
  password_sign_in             everyone|USERNAME [everyone]: who may sign in with a password once
                               single sign-on is set up (one break-glass administrator)
The idle policy has its own command: rollcall idle-policy set.";

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// `settings set --help` names every setting there is.
    #[test]
    fn the_settings_help_lists_every_setting() {
        for s in rollcall_core::domain::Setting::ALL {
            let line = super::SETTINGS_HELP
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", s.key())))
                .unwrap_or_else(|| panic!("{} is missing from settings set --help", s.key()));
            // …with its default as the server has it.
            let shown = line
                .split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(d, _)| d);
            let default = s.default_value().to_string();
            let default = if default.is_empty() { "none".to_owned() } else { default };
            assert_eq!(shown, Some(default.as_str()), "{line}");
        }
    }

    /// Every subcommand and every flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_long().unwrap_or(arg.get_id().as_str())));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = vec![];
        walk(&Cli::command(), "rollcall", &mut missing);
        assert!(
            missing.is_empty(),
            "{} without help text:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}
