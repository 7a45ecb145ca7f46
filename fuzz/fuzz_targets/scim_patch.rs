//! A SCIM PATCH body as an identity provider might send it, applied to a user and to a
//! group: refused with a SCIM error or applied, never a panic; applying the same
//! operations to their own result changes nothing more for a `replace`-only request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_core::service::ScimUserState;
use rollcall_scim::{group, patch, user};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    // The same bytes as a whole resource, as a POST or PUT would carry them.
    let _ = user::from_json(&body, None);
    let _ = group::from_json(&body);
    let Ok(ops) = patch::parse_patch(&body) else { return };
    let current = ScimUserState {
        user_name: "ada@example.org".into(),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        email: "ada@example.org".into(),
        active: true,
        external_id: Some("00u1".into()),
        user_type: None,
        department: Some("North".into()),
    };
    if let Ok((wanted, _password)) = user::apply_patch(&current, &ops) {
        let replaces_only = ops.iter().all(|op| matches!(op.op, patch::OpKind::Replace));
        if replaces_only && let Ok((again, _)) = user::apply_patch(&wanted, &ops) {
            assert_eq!(again, wanted, "a replace applied twice changed more");
        }
    }
    let _ = group::patch_changes(&ops);
});
