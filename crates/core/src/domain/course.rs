//! Courses and learning records: enrollments, unit progress, grades, certificates.

use super::{Millis, UserId};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CourseId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseStatus {
    Draft,
    Published,
    Archived,
}

wire_string!(CourseStatus);

impl CourseStatus {
    pub const ALL: &'static [CourseStatus] = &[CourseStatus::Draft, CourseStatus::Published, CourseStatus::Archived];
    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Published => "published",
            CourseStatus::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Result<CourseStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "draft" => Ok(CourseStatus::Draft),
            "published" => Ok(CourseStatus::Published),
            "archived" => Ok(CourseStatus::Archived),
            _ => Err(Error::invalid(
                "status",
                format!("'{s}' is not draft, published or archived"),
            )),
        }
    }
}

/// A member's part in a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseRole {
    Learner,
    Instructor,
}

wire_string!(CourseRole);

impl CourseRole {
    pub const ALL: &'static [CourseRole] = &[CourseRole::Learner, CourseRole::Instructor];
    pub fn as_str(self) -> &'static str {
        match self {
            CourseRole::Learner => "learner",
            CourseRole::Instructor => "instructor",
        }
    }
    pub fn parse(s: &str) -> Result<CourseRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "learner" => Ok(CourseRole::Learner),
            "instructor" => Ok(CourseRole::Instructor),
            _ => Err(Error::invalid("role", format!("'{s}' is not learner or instructor"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Course<I = CourseId> {
    /// [`Unsaved`](super::Unsaved) until the row is written.
    pub id: I,
    pub code: String,
    pub name: String,
    pub description: String,
    pub status: CourseStatus,
    pub owner_id: UserId,
    /// Units, numbered 1..=units, taken in order.
    pub units: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Course<super::Unsaved> {
    /// The row as written, under the id the store gave it.
    pub fn saved(self, id: CourseId) -> Course {
        Course {
            id,
            code: self.code,
            name: self.name,
            description: self.description,
            status: self.status,
            owner_id: self.owner_id,
            units: self.units,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrollment {
    pub user_id: UserId,
    pub course_id: CourseId,
    pub role: CourseRole,
    pub enrolled_at: Millis,
    pub units_completed: i64,
    pub completed_at: Option<Millis>,
    /// 0 to 100.
    pub grade: Option<i64>,
}

impl Enrollment {
    /// Whole percent of the course's units completed.
    pub fn progress_pct(&self, units: i64) -> i64 {
        if units <= 0 {
            0
        } else {
            (self.units_completed * 100 / units).clamp(0, 100)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub id: i64,
    /// What a third party types to verify it: 20 characters, about 100 bits.
    pub code: String,
    pub user_id: UserId,
    pub course_id: CourseId,
    pub issued_at: Millis,
}

/// A course code: 1–32 letters, digits, `-`, `_` or `.`; unique ignoring case.
pub fn validate_code(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::invalid(
            "code",
            format!("'{s}' is not a course code (1 to 32 letters, digits, '-', '_' or '.')"),
        ));
    }
    Ok(s.to_owned())
}

pub fn validate_units(n: i64) -> Result<i64> {
    if (1..=500).contains(&n) {
        Ok(n)
    } else {
        Err(Error::invalid("units", "a course has 1 to 500 units"))
    }
}

pub fn validate_grade(g: i64) -> Result<i64> {
    if (0..=100).contains(&g) {
        Ok(g)
    } else {
        Err(Error::invalid("grade", "a grade is 0 to 100"))
    }
}

pub fn new_certificate_code() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_units_grades() {
        assert_eq!(validate_code(" CHEM-101 ").unwrap(), "CHEM-101");
        assert!(validate_code("has space").is_err());
        assert!(validate_code("").is_err());
        assert!(validate_units(0).is_err() && validate_units(3).is_ok());
        assert!(validate_grade(101).is_err() && validate_grade(0).is_ok());
        assert_eq!(new_certificate_code().len(), 20);
        assert_ne!(new_certificate_code(), new_certificate_code());
    }

    #[test]
    fn progress_is_a_whole_percent() {
        let e = Enrollment {
            user_id: UserId(1),
            course_id: CourseId(1),
            role: CourseRole::Learner,
            enrolled_at: 0,
            units_completed: 1,
            completed_at: None,
            grade: None,
        };
        assert_eq!(e.progress_pct(3), 33);
        assert_eq!(
            Enrollment {
                units_completed: 3,
                ..e.clone()
            }
            .progress_pct(3),
            100
        );
        assert_eq!(e.progress_pct(0), 0);
    }
}
