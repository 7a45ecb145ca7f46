//! Courses and learning records: enrollments, completed units, certificates, and the
//! courses a group carries.

use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait CourseReads: Send {
    async fn course_by_code(&mut self, code_key: &str) -> Result<Option<Course>>;
    async fn course_by_id(&mut self, id: CourseId) -> Result<Option<Course>>;
    /// Courses, optionally only those owned by `owner`, or whose owner isn't active.
    async fn list_courses(&mut self, owner: Option<UserId>, orphaned: bool) -> Result<Vec<Course>>;
    async fn count_owned_courses(&mut self, owner: UserId) -> Result<i64>;
    async fn enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>>;
    async fn enrollments_of_user(&mut self, user: UserId) -> Result<Vec<Enrollment>>;
    async fn enrollments_of_course(&mut self, course: CourseId) -> Result<Vec<Enrollment>>;
    async fn certificate_by_code(&mut self, code: &str) -> Result<Option<Certificate>>;
    async fn certificates_of_user(&mut self, user: UserId) -> Result<Vec<Certificate>>;
    async fn group_course_ids(&mut self, group: GroupId) -> Result<Vec<CourseId>>;
}

#[async_trait]
pub trait CourseTx: CourseReads {
    async fn insert_course(&mut self, c: &Course<Unsaved>) -> Result<CourseId>;
    /// Moves every course `from` owns to `to`; returns how many.
    async fn reassign_courses(&mut self, from: UserId, to: UserId) -> Result<u64>;
    /// Returns false when the user was already enrolled.
    async fn insert_enrollment(&mut self, e: &Enrollment) -> Result<bool>;
    /// Several at once (an import's batch): the (user, course) pairs written, leaving out
    /// those already enrolled.
    async fn insert_enrollments(&mut self, es: &[Enrollment]) -> Result<Vec<(UserId, CourseId)>>;
    async fn update_enrollment(&mut self, e: &Enrollment) -> Result<()>;
    /// The enrollment, its row locked until the transaction ends (PostgreSQL).
    async fn lock_enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>>;
    /// Records a completed unit; false if it already was.
    async fn complete_unit(&mut self, user: UserId, course: CourseId, unit: i64, at: Millis) -> Result<bool>;
    async fn insert_certificate(&mut self, c: &Certificate) -> Result<()>;
    async fn add_group_course(&mut self, group: GroupId, course: CourseId) -> Result<bool>;
}
