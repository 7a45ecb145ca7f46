//! rollcall's domain and service layer.
//!
//! Everything every channel (CLI, REST, SCIM, SSO, CSV, console, scheduled jobs) relies on
//! lives here: validated value types, the permission catalogue, lifecycle and seat rules,
//! authorization, and the audit chain. This crate knows nothing of HTTP or SQL: storage is
//! reached through the traits in [`ports`], implemented by `rollcall-store`.

#[macro_use]
mod vocab;

pub mod actor;
pub mod audit;
pub mod clock;
pub mod domain;
pub mod error;
pub mod password;
pub mod ports;
pub mod service;

pub use actor::{Actor, Channel, Context};
pub use error::{ConflictCode, Entity, Error, Result, RuleCode};
pub use service::Service;
