//! The organisation: user types, branches, groups and memberships.

use super::*;
use rollcall_core::ConflictCode;

impl SqlTx {
    async fn types_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<UserType>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM user_types {clause} ORDER BY id");
        let rows: Vec<TypeRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        rows.into_iter().map(TypeRow::into_type).collect()
    }

    async fn branches_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Branch>> {
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branches b {clause} ORDER BY b.name_key");
        let rows: Vec<BranchRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        Ok(rows.into_iter().map(Branch::from).collect())
    }

    async fn groups_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Group>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups g {clause} ORDER BY g.name_key");
        let rows: Vec<GroupRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        Ok(rows.into_iter().map(Group::from).collect())
    }
}

#[async_trait]
impl OrgReads for SqlTx {
    async fn user_types(&mut self) -> Result<Vec<UserType>> {
        self.types_where("", &[]).await
    }

    async fn user_type_by_key(&mut self, key: &str) -> Result<Option<UserType>> {
        Ok(self.types_where("WHERE name_key = $1", &args![key]).await?.pop())
    }

    async fn user_type_by_id(&mut self, id: UserTypeId) -> Result<Option<UserType>> {
        Ok(self.types_where("WHERE id = $1", &args![id]).await?.pop())
    }

    async fn type_in_use(&mut self, id: UserTypeId) -> Result<bool> {
        let n = self
            .fetch_i64(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE user_type_id = $1 LIMIT 1) x) \
                 + (SELECT COUNT(*) FROM branches WHERE default_type_id = $1)",
                &args![id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn branches(&mut self) -> Result<Vec<Branch>> {
        self.branches_where("", &[]).await
    }

    async fn branch_by_key(&mut self, key: &str) -> Result<Option<Branch>> {
        Ok(self.branches_where("WHERE b.name_key = $1", &args![key]).await?.pop())
    }

    async fn groups(&mut self) -> Result<Vec<Group>> {
        self.groups_where("", &[]).await
    }

    async fn group_by_key(&mut self, key: &str) -> Result<Option<Group>> {
        Ok(self.groups_where("WHERE g.name_key = $1", &args![key]).await?.pop())
    }

    async fn group_by_id(&mut self, id: GroupId) -> Result<Option<Group>> {
        Ok(self.groups_where("WHERE g.id = $1", &args![id]).await?.pop())
    }

    async fn group_by_join_key(&mut self, key: &str) -> Result<Option<Group>> {
        Ok(self.groups_where("WHERE g.join_key = $1", &args![key]).await?.pop())
    }

    async fn group_member_count(&mut self, group: GroupId) -> Result<i64> {
        self.fetch_i64("SELECT COUNT(*) FROM group_members WHERE group_id = $1", &args![group])
            .await
    }

    async fn group_member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>> {
        const SQL: &str = "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id";
        Ok(self.ids(SQL, &args![group]).await?.into_iter().map(UserId).collect())
    }

    async fn list_groups(&mut self, q: &GroupQuery) -> Result<Vec<Group>> {
        let mut f = group_filter(q);
        let lim = f.arg(q.limit);
        let off = f.arg(q.offset.unwrap_or(0));
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups g{} ORDER BY g.id LIMIT {lim} OFFSET {off}",
            f.sql()
        );
        let rows: Vec<GroupRow> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
        Ok(rows.into_iter().map(Group::from).collect())
    }

    async fn count_groups(&mut self, q: &GroupQuery) -> Result<i64> {
        let f = group_filter(q);
        self.fetch_i64(
            AssertSqlSafe(format!("SELECT COUNT(*) FROM groups g{}", f.sql())),
            &f.args,
        )
        .await
    }

    async fn user_branches(&mut self, id: UserId) -> Result<Vec<Branch>> {
        self.branches_where(
            "JOIN user_branches ub ON ub.branch_id = b.id WHERE ub.user_id = $1",
            &args![id],
        )
        .await
    }

    async fn user_groups(&mut self, id: UserId) -> Result<Vec<Group>> {
        self.groups_where(
            "JOIN group_members gm ON gm.group_id = g.id WHERE gm.user_id = $1",
            &args![id],
        )
        .await
    }

    async fn branch_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        self.names_of(
            "SELECT ub.user_id, b.name FROM user_branches ub JOIN branches b ON b.id = ub.branch_id",
            "ub.user_id",
            "b.name_key",
            users,
        )
        .await
    }

    async fn group_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        self.names_of(
            "SELECT gm.user_id, g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id",
            "gm.user_id",
            "g.name_key",
            users,
        )
        .await
    }
}

#[async_trait]
impl OrgTx for SqlTx {
    async fn insert_user_type(&mut self, t: &UserType<Unsaved>) -> Result<UserTypeId> {
        const SQL: &str =
            "INSERT INTO user_types (name, name_key, base, builtin, areas) VALUES ($1, $2, $3, FALSE, $4) RETURNING id";
        let (id,): (i64,) = self
            .try_fetch_one(SQL, &args![t.name.as_str(), t.key(), t.base.key(), t.areas.to_names()])
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    ConflictCode::TypeExists,
                    format!("a user type named '{}' already exists", t.name),
                )
            })?;
        Ok(UserTypeId(id))
    }

    async fn update_user_type_areas(&mut self, id: UserTypeId, areas: AreaSet) -> Result<()> {
        const SQL: &str = "UPDATE user_types SET areas = $2 WHERE id = $1 AND NOT builtin";
        self.execute(SQL, &args![id, areas.to_names()]).await.map(drop)
    }

    async fn delete_user_type(&mut self, id: UserTypeId) -> Result<()> {
        self.execute("DELETE FROM user_types WHERE id = $1 AND NOT builtin", &args![id])
            .await
            .map(drop)
    }

    async fn insert_branch(&mut self, b: &Branch<Unsaved>) -> Result<BranchId> {
        const SQL: &str = "INSERT INTO branches (name, name_key, slug, description, default_type_id, seat_cap, active_users) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id";
        let (id,): (i64,) = self
            .try_fetch_one(
                SQL,
                &args![
                    b.name.as_str(),
                    name_key(&b.name),
                    b.slug.as_str(),
                    b.description.as_str(),
                    b.default_type_id,
                    b.seat_cap
                ],
            )
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    ConflictCode::BranchExists,
                    format!("a branch named '{}' already exists", b.name),
                )
            })?;
        Ok(BranchId(id))
    }

    async fn update_branch(&mut self, b: &Branch) -> Result<bool> {
        const SQL: &str = "UPDATE branches SET description = $2, default_type_id = $3, seat_cap = $4 \
             WHERE id = $1 AND ($4 IS NULL OR active_users <= $4)";
        let n = self
            .execute(SQL, &args![b.id, b.description.as_str(), b.default_type_id, b.seat_cap])
            .await?;
        Ok(n == 1)
    }

    async fn insert_group(&mut self, g: &Group<Unsaved>) -> Result<GroupId> {
        const SQL: &str = "INSERT INTO groups (name, name_key, branch_id, join_key, description, external_id, scim_linked, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (id,): (i64,) = self
            .try_fetch_one(
                SQL,
                &args![
                    g.name.as_str(),
                    name_key(&g.name),
                    g.branch_id,
                    g.key.as_deref(),
                    g.description.as_str(),
                    g.external_id.as_deref(),
                    g.scim_linked,
                    g.created_at,
                    g.updated_at
                ],
            )
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    ConflictCode::GroupExists,
                    format!("a group named '{}' or with that key already exists", g.name),
                )
            })?;
        Ok(GroupId(id))
    }

    async fn update_group(&mut self, g: &Group) -> Result<()> {
        const SQL: &str = "UPDATE groups SET name = $2, name_key = $3, description = $4, external_id = $5, \
             scim_linked = $6, updated_at = $7 WHERE id = $1";
        self.try_execute(
            SQL,
            &args![
                g.id,
                g.name.as_str(),
                name_key(&g.name),
                g.description.as_str(),
                g.external_id.as_deref(),
                g.scim_linked,
                g.updated_at
            ],
        )
        .await
        .map(drop)
        .map_err(|e| {
            unique_conflict(
                e,
                ConflictCode::GroupExists,
                format!("a group named '{}' already exists", g.name),
            )
        })
    }

    async fn delete_group(&mut self, id: GroupId) -> Result<()> {
        self.execute("DELETE FROM groups WHERE id = $1", &args![id])
            .await
            .map(drop)
    }

    async fn add_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool> {
        const SQL: &str = "INSERT INTO user_branches (user_id, branch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &args![user, branch]).await? == 1)
    }

    async fn add_user_branches(&mut self, pairs: &[(UserId, BranchId)]) -> Result<()> {
        for chunk in pairs.chunks(rows_per_statement(2)) {
            let (values, args) = values_list(chunk.iter().map(|(u, b)| args![*u, *b].to_vec()));
            let sql = format!("INSERT INTO user_branches (user_id, branch_id) VALUES {values} ON CONFLICT DO NOTHING");
            self.execute(AssertSqlSafe(sql), &args).await?;
        }
        Ok(())
    }

    async fn add_group_members(&mut self, pairs: &[(GroupId, UserId)]) -> Result<()> {
        for chunk in pairs.chunks(rows_per_statement(2)) {
            let (values, args) = values_list(chunk.iter().map(|(g, u)| args![*g, *u].to_vec()));
            let sql = format!("INSERT INTO group_members (group_id, user_id) VALUES {values} ON CONFLICT DO NOTHING");
            self.execute(AssertSqlSafe(sql), &args).await?;
        }
        Ok(())
    }

    async fn remove_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool> {
        const SQL: &str = "DELETE FROM user_branches WHERE user_id = $1 AND branch_id = $2";
        Ok(self.execute(SQL, &args![user, branch]).await? == 1)
    }

    async fn add_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool> {
        const SQL: &str = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &args![group, user]).await? == 1)
    }

    async fn remove_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool> {
        const SQL: &str = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
        Ok(self.execute(SQL, &args![group, user]).await? == 1)
    }
}
