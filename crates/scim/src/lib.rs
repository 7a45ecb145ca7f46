//! SCIM 2.0 for rollcall, without HTTP: the filter grammar, resource mapping and PATCH
//! semantics of RFC 7643/7644, as tolerant of real identity providers as they need.

pub mod error;
pub mod filter;
pub mod group;
pub mod patch;
pub mod query;
pub mod schema;
pub mod user;

pub use error::ScimError;
