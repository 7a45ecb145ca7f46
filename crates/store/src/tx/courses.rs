//! Courses and learning records.

use super::*;
use rollcall_core::ConflictCode;

impl SqlTx {
    async fn courses_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Course>> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses c {clause} ORDER BY c.code_key");
        let rows: Vec<CourseRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        rows.into_iter().map(CourseRow::into_course).collect()
    }

    async fn enrollments_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Enrollment>> {
        let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments {clause} ORDER BY course_id, user_id");
        let rows: Vec<EnrollmentRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        rows.into_iter().map(EnrollmentRow::into_enrollment).collect()
    }

    async fn certificates_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Certificate>> {
        let sql = format!("SELECT id, code, user_id, course_id, issued_at FROM certificates {clause} ORDER BY id");
        let rows: Vec<CertificateRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }
}

#[async_trait]
impl CourseReads for SqlTx {
    async fn course_by_code(&mut self, code_key: &str) -> Result<Option<Course>> {
        Ok(self
            .courses_where("WHERE c.code_key = $1", &args![code_key])
            .await?
            .pop())
    }

    async fn course_by_id(&mut self, id: CourseId) -> Result<Option<Course>> {
        Ok(self.courses_where("WHERE c.id = $1", &args![id]).await?.pop())
    }

    async fn list_courses(&mut self, owner: Option<UserId>, orphaned: bool) -> Result<Vec<Course>> {
        match (owner, orphaned) {
            (Some(o), false) => self.courses_where("WHERE c.owner_id = $1", &args![o]).await,
            (Some(o), true) => {
                self.courses_where(
                    "JOIN users o ON o.id = c.owner_id WHERE c.owner_id = $1 AND o.status <> 'active'",
                    &args![o],
                )
                .await
            }
            (None, true) => {
                self.courses_where("JOIN users o ON o.id = c.owner_id WHERE o.status <> 'active'", &[])
                    .await
            }
            (None, false) => self.courses_where("", &[]).await,
        }
    }

    async fn count_owned_courses(&mut self, owner: UserId) -> Result<i64> {
        self.fetch_i64("SELECT COUNT(*) FROM courses WHERE owner_id = $1", &args![owner])
            .await
    }

    async fn enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>> {
        Ok(self
            .enrollments_where("WHERE user_id = $1 AND course_id = $2", &args![user, course])
            .await?
            .pop())
    }

    async fn enrollments_of_user(&mut self, user: UserId) -> Result<Vec<Enrollment>> {
        self.enrollments_where("WHERE user_id = $1", &args![user]).await
    }

    async fn enrollments_of_course(&mut self, course: CourseId) -> Result<Vec<Enrollment>> {
        self.enrollments_where("WHERE course_id = $1", &args![course]).await
    }

    async fn certificate_by_code(&mut self, code: &str) -> Result<Option<Certificate>> {
        Ok(self.certificates_where("WHERE code = $1", &args![code]).await?.pop())
    }

    async fn certificates_of_user(&mut self, user: UserId) -> Result<Vec<Certificate>> {
        self.certificates_where("WHERE user_id = $1", &args![user]).await
    }

    async fn group_course_ids(&mut self, group: GroupId) -> Result<Vec<CourseId>> {
        const SQL: &str = "SELECT course_id FROM group_courses WHERE group_id = $1 ORDER BY course_id";
        Ok(self.ids(SQL, &args![group]).await?.into_iter().map(CourseId).collect())
    }
}

#[async_trait]
impl CourseTx for SqlTx {
    async fn insert_course(&mut self, c: &Course<Unsaved>) -> Result<CourseId> {
        const SQL: &str = "INSERT INTO courses (code, code_key, name, description, status, owner_id, units, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (id,): (i64,) = self
            .try_fetch_one(
                SQL,
                &args![
                    c.code.as_str(),
                    name_key(&c.code),
                    c.name.as_str(),
                    c.description.as_str(),
                    c.status.as_str(),
                    c.owner_id,
                    c.units,
                    c.created_at,
                    c.updated_at
                ],
            )
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    ConflictCode::CourseExists,
                    format!("a course with code '{}' already exists", c.code),
                )
            })?;
        Ok(CourseId(id))
    }

    async fn reassign_courses(&mut self, from: UserId, to: UserId) -> Result<u64> {
        self.execute("UPDATE courses SET owner_id = $2 WHERE owner_id = $1", &args![from, to])
            .await
    }

    async fn insert_enrollment(&mut self, e: &Enrollment) -> Result<bool> {
        const SQL: &str = "INSERT INTO enrollments (user_id, course_id, role, enrolled_at, units_completed) \
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING";
        let args = args![e.user_id, e.course_id, e.role.as_str(), e.enrolled_at];
        Ok(self.execute(SQL, &args).await? == 1)
    }

    async fn insert_enrollments(&mut self, es: &[Enrollment]) -> Result<Vec<(UserId, CourseId)>> {
        let mut written = Vec::new();
        for chunk in es.chunks(rows_per_statement(4)) {
            let (values, args) = values_list(
                chunk
                    .iter()
                    .map(|e| args![e.user_id, e.course_id, e.role.as_str(), e.enrolled_at].to_vec()),
            );
            let sql = format!(
                "INSERT INTO enrollments (user_id, course_id, role, enrolled_at) VALUES {values} \
                 ON CONFLICT DO NOTHING RETURNING user_id, course_id"
            );
            let rows: Vec<(i64, i64)> = self.fetch_all(AssertSqlSafe(sql), &args).await?;
            written.extend(rows.into_iter().map(|(u, c)| (UserId(u), CourseId(c))));
        }
        Ok(written)
    }

    async fn update_enrollment(&mut self, e: &Enrollment) -> Result<()> {
        const SQL: &str = "UPDATE enrollments SET role = $3, units_completed = $4, completed_at = $5, grade = $6 \
             WHERE user_id = $1 AND course_id = $2";
        self.execute(
            SQL,
            &args![
                e.user_id,
                e.course_id,
                e.role.as_str(),
                e.units_completed,
                e.completed_at,
                e.grade
            ],
        )
        .await
        .map(drop)
    }

    async fn lock_enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>> {
        let sql = format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE user_id = $1 AND course_id = $2{}",
            self.for_update()
        );
        let row: Option<EnrollmentRow> = self.fetch_optional(AssertSqlSafe(sql), &args![user, course]).await?;
        row.map(EnrollmentRow::into_enrollment).transpose()
    }

    async fn complete_unit(&mut self, user: UserId, course: CourseId, unit: i64, at: Millis) -> Result<bool> {
        const SQL: &str = "INSERT INTO unit_completions (user_id, course_id, unit, completed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &args![user, course, unit, at]).await? == 1)
    }

    async fn insert_certificate(&mut self, c: &Certificate) -> Result<()> {
        const SQL: &str = "INSERT INTO certificates (code, user_id, course_id, issued_at) VALUES ($1, $2, $3, $4)";
        let args = args![&c.code, c.user_id, c.course_id, c.issued_at];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn add_group_course(&mut self, group: GroupId, course: CourseId) -> Result<bool> {
        const SQL: &str = "INSERT INTO group_courses (group_id, course_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &args![group, course]).await? == 1)
    }
}
