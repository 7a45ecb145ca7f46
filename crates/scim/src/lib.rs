//! SCIM 2.0 for rollcall, without HTTP: the filter grammar, resource mapping and PATCH
//! semantics of RFC 7643/7644, as tolerant of real identity providers as they need.

pub mod filter;
