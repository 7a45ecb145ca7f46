//! User types and the feature-area catalogue: who may do what.

use crate::{ConflictCode, Error, Result, RuleCode};
use std::fmt;

macro_rules! areas {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// A feature area: the unit of permission the CLI and API name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Area { $($variant),* }

        impl Area {
            pub const ALL: &'static [Area] = &[$(Area::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Area::$variant => $name),* }
            }
        }
    };
}

areas! {
    CatalogBrowse = "catalog.browse",
    CoursesSelfEnroll = "courses.self_enroll",
    CoursesTake = "courses.take",
    ProgressViewOwn = "progress.view_own",
    CertificatesViewOwn = "certificates.view_own",
    ProfileEditOwn = "profile.edit_own",
    CoursesCreate = "courses.create",
    CoursesEditOwn = "courses.edit_own",
    CoursesEnrollLearners = "courses.enroll_learners",
    Grading = "grading",
    ReportsOwnCourses = "reports.own_courses",
    LearnersViewOwn = "learners.view_own",
    UsersManage = "users.manage",
    UserTypesManage = "user_types.manage",
    BranchesManage = "branches.manage",
    GroupsManage = "groups.manage",
    CoursesManageAll = "courses.manage_all",
    ReportsAll = "reports.all",
    ImportRun = "import.run",
    IntegrationsManage = "integrations.manage",
    SettingsManage = "settings.manage",
    PlanManage = "plan.manage",
    AuditView = "audit.view",
}

wire_string!(Area, name);

impl Area {
    pub fn parse(s: &str) -> Result<Area> {
        let wanted = s.trim().to_ascii_lowercase();
        Area::ALL.iter().copied().find(|a| a.name() == wanted).ok_or_else(|| {
            let known: Vec<_> = Area::ALL.iter().map(|a| a.name()).collect();
            Error::invalid(
                "area",
                format!("unknown feature area '{s}'; known areas: {}", known.join(", ")),
            )
        })
    }
}

/// A set of feature areas.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AreaSet(u32);

impl AreaSet {
    pub const EMPTY: AreaSet = AreaSet(0);

    pub fn of(areas: &[Area]) -> AreaSet {
        areas.iter().fold(AreaSet::EMPTY, |s, a| s.with(*a))
    }
    pub fn with(self, a: Area) -> AreaSet {
        AreaSet(self.0 | 1 << a as u8)
    }
    pub fn without(self, a: Area) -> AreaSet {
        AreaSet(self.0 & !(1 << a as u8))
    }
    pub fn contains(self, a: Area) -> bool {
        self.0 & (1 << a as u8) != 0
    }
    pub fn union(self, other: AreaSet) -> AreaSet {
        AreaSet(self.0 | other.0)
    }
    pub fn is_subset_of(self, other: AreaSet) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Area> {
        Area::ALL.iter().copied().filter(move |a| self.contains(*a))
    }
    /// Comma-separated names: the storage and display form.
    pub fn to_names(self) -> String {
        self.iter().map(Area::name).collect::<Vec<_>>().join(",")
    }
    pub fn parse_names(s: &str) -> Result<AreaSet> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .try_fold(AreaSet::EMPTY, |set, p| Ok(set.with(Area::parse(p)?)))
    }
}

impl fmt::Debug for AreaSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Area::name)).finish()
    }
}

/// The four built-in user types. Every type, custom ones included, has one of these as base;
/// the base decides the rank (who may grant it) and the most it may ever hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BaseRole {
    Learner,
    Instructor,
    BranchAdministrator,
    Administrator,
}

wire_string!(BaseRole, key);

impl BaseRole {
    pub const ALL: [BaseRole; 4] = [
        BaseRole::Administrator,
        BaseRole::BranchAdministrator,
        BaseRole::Instructor,
        BaseRole::Learner,
    ];

    pub fn areas(self) -> AreaSet {
        use Area::*;
        let learner = AreaSet::of(&[
            CatalogBrowse,
            CoursesSelfEnroll,
            CoursesTake,
            ProgressViewOwn,
            CertificatesViewOwn,
            ProfileEditOwn,
        ]);
        let instructor = learner.union(AreaSet::of(&[
            CoursesCreate,
            CoursesEditOwn,
            CoursesEnrollLearners,
            Grading,
            ReportsOwnCourses,
            LearnersViewOwn,
        ]));
        match self {
            BaseRole::Learner => learner,
            BaseRole::Instructor => instructor,
            // An administrator of their branches only: no settings, integrations, plan, user
            // types, branch management or platform-wide audit log.
            BaseRole::BranchAdministrator => instructor.union(AreaSet::of(&[
                UsersManage,
                GroupsManage,
                CoursesManageAll,
                ReportsAll,
                ImportRun,
            ])),
            BaseRole::Administrator => AreaSet::of(Area::ALL),
        }
    }

    /// The storage key of the base (`administrator`, `branch-administrator`, …).
    pub fn key(self) -> &'static str {
        match self {
            BaseRole::Administrator => "administrator",
            BaseRole::BranchAdministrator => "branch-administrator",
            BaseRole::Instructor => "instructor",
            BaseRole::Learner => "learner",
        }
    }
    pub fn display_name(self) -> &'static str {
        match self {
            BaseRole::Administrator => "Administrator",
            BaseRole::BranchAdministrator => "Branch Administrator",
            BaseRole::Instructor => "Instructor",
            BaseRole::Learner => "Learner",
        }
    }
    pub fn from_key(s: &str) -> Option<BaseRole> {
        BaseRole::ALL.into_iter().find(|b| b.key() == type_key(s))
    }
    /// The id of the built-in type of this base (seeded by the first migration).
    pub fn builtin_id(self) -> UserTypeId {
        UserTypeId(match self {
            BaseRole::Administrator => 1,
            BaseRole::BranchAdministrator => 2,
            BaseRole::Instructor => 3,
            BaseRole::Learner => 4,
        })
    }
}

/// The lookup key of a type name: case-insensitive, spaces and underscores as dashes, so
/// "Branch Administrator", "branch_administrator" and "branch-administrator" are one name.
pub fn type_key(s: &str) -> String {
    s.trim().to_lowercase().replace([' ', '_'], "-")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserTypeId(pub i64);

/// A user type: a built-in one, or a custom one cloned from a built-in base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserType<I = UserTypeId> {
    /// [`Unsaved`](super::Unsaved) until the row is written.
    pub id: I,
    pub name: String,
    pub base: BaseRole,
    pub builtin: bool,
    pub areas: AreaSet,
}

impl UserType<super::Unsaved> {
    /// The row as written, under the id the store gave it.
    pub fn saved(self, id: UserTypeId) -> UserType {
        UserType {
            id,
            name: self.name,
            base: self.base,
            builtin: self.builtin,
            areas: self.areas,
        }
    }
}

impl<I> UserType<I> {
    pub fn key(&self) -> String {
        type_key(&self.name)
    }
}

impl UserType {
    pub fn builtin(base: BaseRole) -> UserType {
        UserType {
            id: base.builtin_id(),
            name: base.display_name().to_owned(),
            base,
            builtin: true,
            areas: base.areas(),
        }
    }

    /// Validates a custom type's name; its areas start as its base's (any of the four: a
    /// type based on Administrator or Branch Administrator, with areas taken away, is a
    /// limited administrator).
    pub fn validate_custom(name: &str) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "a user type name has 1 to 64 characters and no control characters",
            ));
        }
        if BaseRole::from_key(name).is_some() {
            return Err(Error::conflict(
                ConflictCode::TypeExists,
                format!("'{name}' is the name of a built-in user type"),
            ));
        }
        Ok(())
    }

    /// The one rule of custom types: never an area the base lacks. Checked on create and
    /// on every edit, whatever the channel.
    pub fn check_areas(base: BaseRole, areas: AreaSet) -> Result<()> {
        let excess: Vec<_> = areas
            .iter()
            .filter(|a| !base.areas().contains(*a))
            .map(Area::name)
            .collect();
        if excess.is_empty() {
            Ok(())
        } else {
            Err(Error::rule(
                RuleCode::AreaNotInBase,
                format!(
                    "a type based on {} can't hold {}: its base lacks {}",
                    base.display_name(),
                    excess.join(", "),
                    if excess.len() == 1 { "it" } else { "them" }
                ),
            ))
        }
    }

    /// Applies `--allow`/`--deny` edits to a custom type, enforcing the base rule.
    pub fn edited(&self, allow: &[Area], deny: &[Area]) -> Result<AreaSet> {
        if self.builtin {
            return Err(Error::rule(
                RuleCode::BuiltinType,
                format!("the built-in type {} can't be edited; clone it instead", self.name),
            ));
        }
        let areas = deny
            .iter()
            .fold(allow.iter().fold(self.areas, |s, a| s.with(*a)), |s, a| s.without(*a));
        UserType::check_areas(self.base, areas)?;
        Ok(areas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_catalogue_nests() {
        let l = BaseRole::Learner.areas();
        let i = BaseRole::Instructor.areas();
        let b = BaseRole::BranchAdministrator.areas();
        let a = BaseRole::Administrator.areas();
        assert!(l.is_subset_of(i) && i.is_subset_of(b) && b.is_subset_of(a));
        assert_eq!(l.iter().count(), 6);
        assert_eq!(i.iter().count(), 12);
        assert_eq!(a.iter().count(), Area::ALL.len());
        for denied in [
            Area::SettingsManage,
            Area::IntegrationsManage,
            Area::PlanManage,
            Area::UserTypesManage,
        ] {
            assert!(!b.contains(denied), "branch administrators must not hold {denied}");
        }
        assert!(!l.contains(Area::CoursesCreate));
    }

    #[test]
    fn area_names_round_trip() {
        for a in Area::ALL {
            assert_eq!(Area::parse(a.name()).unwrap(), *a);
        }
        let set = AreaSet::of(&[Area::Grading, Area::CoursesTake]);
        assert_eq!(AreaSet::parse_names(&set.to_names()).unwrap(), set);
        assert!(Area::parse("users.everything").is_err());
    }

    #[test]
    fn custom_types_never_exceed_their_base() {
        assert!(UserType::check_areas(BaseRole::Learner, BaseRole::Learner.areas()).is_ok());
        let err = UserType::check_areas(BaseRole::Learner, AreaSet::of(&[Area::CoursesCreate])).unwrap_err();
        assert_eq!(err.code(), "area_not_in_base");
        assert!(UserType::check_areas(BaseRole::Instructor, AreaSet::of(&[Area::UsersManage])).is_err());
        assert!(UserType::validate_custom("learner").is_err());
        assert!(UserType::validate_custom("Branch Administrator").is_err());
        assert!(UserType::validate_custom("Contractor").is_ok());
        assert!(UserType::validate_custom("").is_err());
    }

    #[test]
    fn edits_are_checked_against_the_base() {
        let t = UserType {
            id: UserTypeId(9),
            name: "Trainee".into(),
            base: BaseRole::Learner,
            builtin: false,
            areas: BaseRole::Learner.areas(),
        };
        let fewer = t.edited(&[], &[Area::CoursesSelfEnroll]).unwrap();
        assert!(!fewer.contains(Area::CoursesSelfEnroll));
        assert_eq!(
            t.edited(&[Area::CoursesCreate], &[]).unwrap_err().code(),
            "area_not_in_base"
        );
        assert!(
            UserType::builtin(BaseRole::Learner)
                .edited(&[], &[Area::CoursesTake])
                .is_err()
        );
    }

    #[test]
    fn type_names_are_case_insensitive() {
        assert_eq!(
            BaseRole::from_key("Branch Administrator"),
            Some(BaseRole::BranchAdministrator)
        );
        assert_eq!(BaseRole::from_key("LEARNER"), Some(BaseRole::Learner));
        assert_eq!(
            BaseRole::from_key("branch_administrator"),
            Some(BaseRole::BranchAdministrator)
        );
        assert!(BaseRole::Administrator > BaseRole::BranchAdministrator);
        assert!(BaseRole::Instructor > BaseRole::Learner);
    }
}
