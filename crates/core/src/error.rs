//! The one error type of the service layer. Each channel maps it to its wire format with an
//! exhaustive match, so adding a variant forces every adapter to decide how to show it.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that fails a syntactic rule (bad email, empty name, unknown feature area …).
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    /// The named thing does not exist — or the caller may not know that it does.
    #[error("{kind} '{key}' not found")]
    NotFound { kind: Entity, key: String },
    /// The caller is known but lacks the permission.
    #[error("{0}")]
    Forbidden(String),
    /// The caller could not be identified (unknown, revoked or deactivated credential).
    #[error("authentication required")]
    Unauthenticated,
    #[error("username '{0}' is already taken (usernames are case-insensitive; deleted users keep theirs until purged)")]
    UsernameTaken(String),
    #[error("email '{0}' is already used by another account (emails are case-insensitive)")]
    EmailTaken(String),
    #[error(
        "seat limit reached: {used} of {limit} seats are in use; deactivate an account or move to a larger plan (rollcall plan set)"
    )]
    SeatLimitReached { used: i64, limit: i64 },
    #[error("branch '{branch}' has reached its seat cap of {cap}; deactivate an account in it or raise the cap")]
    BranchSeatCapReached { branch: String, cap: i64 },
    #[error("the {plan} plan does not include {feature}; move to a paid plan first (rollcall plan set core)")]
    PlanFeatureUnavailable { plan: String, feature: String },
    #[error("{0}")]
    ConfirmationRequired(String),
    /// A domain rule refuses the change (last administrator, type in use, area above base …).
    #[error("{message}")]
    RuleViolated { code: RuleCode, message: String },
    /// The change conflicts with the current state (already exists, wrong status …).
    #[error("{message}")]
    Conflict { code: ConflictCode, message: String },
    /// Too many attempts: try again after this many seconds.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: i64 },
    /// A failure inside rollcall or its database. The message is for logs, never for clients.
    #[error("internal error: {0}")]
    Internal(InternalError),
}

vocabulary! {
    /// What an [`Error::NotFound`] names; its text is how messages say it ("user type 'x' not found").
    Entity {
        User = "user",
        UserType = "user type",
        Branch = "branch",
        Group = "group",
        /// A group's enrolment key (the key itself is never echoed).
        GroupKey = "group key",
        Course = "course",
        Certificate = "certificate",
        Job = "job",
        Token = "token",
        Upload = "upload",
    }
}

vocabulary! {
    /// The stable codes of [`Error::Conflict`] (CONTRACT.md's error codes).
    ConflictCode {
        InTrash = "in_trash",
        NotInTrash = "not_in_trash",
        AlreadyActive = "already_active",
        TypeExists = "type_exists",
        BranchExists = "branch_exists",
        GroupExists = "group_exists",
        CourseExists = "course_exists",
        TokenExists = "token_exists",
        SeatsInUse = "seats_in_use",
        UserNotActive = "user_not_active",
        SsoSubjectTaken = "sso_subject_taken",
        NoAdministrator = "no_administrator",
        /// A daily job is running already (here or on another instance).
        JobRunning = "job_running",
    }
}

impl ConflictCode {
    /// A second thing of the same name: SCIM's `uniqueness`.
    pub fn is_uniqueness(self) -> bool {
        matches!(
            self,
            ConflictCode::TypeExists
                | ConflictCode::BranchExists
                | ConflictCode::GroupExists
                | ConflictCode::CourseExists
                | ConflictCode::TokenExists
        )
    }
}

vocabulary! {
    /// The stable codes of [`Error::RuleViolated`] (CONTRACT.md's error codes).
    RuleCode {
        LastAdministrator = "last_administrator",
        OutsideYourBranches = "outside_your_branches",
        OwnsCourses = "owns_courses",
        BuiltinType = "builtin_type",
        TypeInUse = "type_in_use",
        InvalidBase = "invalid_base",
        AreaNotInBase = "area_not_in_base",
        NotACourseOwner = "not_a_course_owner",
        NotEnrolled = "not_enrolled",
        UnitOrder = "unit_order",
        ImportStopped = "import_stopped",
        /// A manual run of the idle policy while it is off.
        IdlePolicyOff = "idle_policy_off",
        /// An import needing more seats than are free (the single-user case is [`Error::SeatLimitReached`]).
        SeatLimitReached = "seat_limit_reached",
        /// A password sign-in (or reset) by someone whose way in is single sign-on (setting
        /// `password_sign_in`).
        SsoOnly = "sso_only",
    }
}

/// Opaque internal failure: its text goes to logs only.
pub struct InternalError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The database could not be reached (down, refusing connections, the session ended under
/// the request, no connection free in time): an [`Error::Internal`] whose cause is passing,
/// answered 503 with `Retry-After` rather than 500.
#[derive(Debug)]
pub struct DatabaseUnavailable(pub String);

impl fmt::Display for DatabaseUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database unavailable: {}", self.0)
    }
}

impl std::error::Error for DatabaseUnavailable {}

impl InternalError {
    /// Whether the failure is the database being out of reach, which passes.
    pub fn is_unavailable(&self) -> bool {
        self.0.downcast_ref::<DatabaseUnavailable>().is_some()
    }
}

impl Error {
    /// A failure to reach the database (see [`DatabaseUnavailable`]).
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Error::internal(DatabaseUnavailable(cause.to_string()))
    }

    /// Whether this is the database being out of reach.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Internal(inner) if inner.is_unavailable())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(kind: Entity, key: impl fmt::Display) -> Self {
        Error::NotFound {
            kind,
            key: key.to_string(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }
    pub fn rule(code: RuleCode, message: impl Into<String>) -> Self {
        Error::RuleViolated {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: ConflictCode, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(InternalError(e.into()))
    }

    /// The stable snake_case code callers match on (CONTRACT.md).
    /// Every code [`Error::code`] can answer, for the API document and the README.
    pub fn codes() -> Vec<&'static str> {
        let mut codes = vec![
            "invalid_input",
            "not_found",
            "forbidden",
            "unauthenticated",
            "username_taken",
            "email_taken",
            "seat_limit_reached",
            "branch_seat_cap_reached",
            "plan_feature_unavailable",
            "confirmation_required",
            "rate_limited",
            "internal",
        ];
        codes.extend(RuleCode::ALL.iter().map(|c| c.as_str()));
        codes.extend(ConflictCode::ALL.iter().map(|c| c.as_str()));
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::NotFound { .. } => "not_found",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthenticated => "unauthenticated",
            Error::UsernameTaken(_) => "username_taken",
            Error::EmailTaken(_) => "email_taken",
            Error::SeatLimitReached { .. } => "seat_limit_reached",
            Error::BranchSeatCapReached { .. } => "branch_seat_cap_reached",
            Error::PlanFeatureUnavailable { .. } => "plan_feature_unavailable",
            Error::ConfirmationRequired(_) => "confirmation_required",
            Error::RuleViolated { code, .. } => code.as_str(),
            Error::RateLimited { .. } => "rate_limited",
            Error::Conflict { code, .. } => code.as_str(),
            Error::Internal(_) => "internal",
        }
    }
}
