//! The organisation: user types, branches, groups and who is in which.

use super::GroupQuery;
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait OrgReads: Send {
    async fn user_types(&mut self) -> Result<Vec<UserType>>;
    async fn user_type_by_key(&mut self, key: &str) -> Result<Option<UserType>>;
    async fn user_type_by_id(&mut self, id: UserTypeId) -> Result<Option<UserType>>;
    async fn type_in_use(&mut self, id: UserTypeId) -> Result<bool>;
    async fn branches(&mut self) -> Result<Vec<Branch>>;
    async fn branch_by_key(&mut self, key: &str) -> Result<Option<Branch>>;
    async fn groups(&mut self) -> Result<Vec<Group>>;
    async fn group_by_key(&mut self, name_key: &str) -> Result<Option<Group>>;
    async fn group_by_id(&mut self, id: GroupId) -> Result<Option<Group>>;
    async fn group_by_join_key(&mut self, key: &str) -> Result<Option<Group>>;
    async fn group_member_count(&mut self, group: GroupId) -> Result<i64>;
    async fn group_member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>>;
    async fn list_groups(&mut self, query: &GroupQuery) -> Result<Vec<Group>>;
    async fn count_groups(&mut self, query: &GroupQuery) -> Result<i64>;
    async fn user_branches(&mut self, id: UserId) -> Result<Vec<Branch>>;
    async fn user_groups(&mut self, id: UserId) -> Result<Vec<Group>>;
    /// Branch names of many users at once (one query per page of a list, not per user).
    async fn branch_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
    async fn group_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
}

#[async_trait]
pub trait OrgTx: OrgReads {
    async fn insert_user_type(&mut self, t: &UserType<Unsaved>) -> Result<UserTypeId>;
    async fn update_user_type_areas(&mut self, id: UserTypeId, areas: AreaSet) -> Result<()>;
    async fn delete_user_type(&mut self, id: UserTypeId) -> Result<()>;
    async fn insert_branch(&mut self, b: &Branch<Unsaved>) -> Result<BranchId>;
    /// Writes description, default type and cap — unless the cap is below the branch's
    /// active users at that moment (checked in the same statement); returns whether it did.
    async fn update_branch(&mut self, b: &Branch) -> Result<bool>;
    async fn insert_group(&mut self, g: &Group<Unsaved>) -> Result<GroupId>;
    /// Writes name, external id, description, link and updated time (matched by id).
    async fn update_group(&mut self, g: &Group) -> Result<()>;
    async fn delete_group(&mut self, id: GroupId) -> Result<()>;
    /// Returns false when the membership already existed.
    async fn add_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool>;
    async fn remove_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool>;
    /// Many memberships at once (new users'), in a few multi-row statements.
    async fn add_user_branches(&mut self, pairs: &[(UserId, BranchId)]) -> Result<()>;
    async fn add_group_members(&mut self, pairs: &[(GroupId, UserId)]) -> Result<()>;
    async fn add_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool>;
    async fn remove_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool>;
}
