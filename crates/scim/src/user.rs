//! SCIM User ↔ rollcall user: reading POST/PUT bodies, applying PATCH operations, writing
//! the resource.

use crate::error::ScimError;
use crate::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::patch::{OpKind, PatchOp, PatchPath, as_bool, get_ci, key_path};
use crate::schema::{ENTERPRISE_SCHEMA, USER_SCHEMA};
use rollcall_core::domain::format_millis;
use rollcall_core::service::{PasswordChange, ScimUserState, ScimUserView};
use serde_json::{Value, json};

/// The attributes rollcall maps; everything else is tolerated and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attr {
    UserName,
    Name,
    GivenName,
    FamilyName,
    Emails,
    EmailValue,
    Active,
    ExternalId,
    UserType,
    Department,
    Enterprise,
    Password,
    Ignored,
}

fn is_core_uri(uri: &Option<String>) -> bool {
    uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA))
}

fn attr_of(path: &AttrPath) -> Attr {
    let enterprise = path
        .uri
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_SCHEMA));
    if enterprise {
        return if path.attr == "department" && path.sub.is_none() {
            Attr::Department
        } else {
            Attr::Ignored
        };
    }
    if !is_core_uri(&path.uri) {
        return Attr::Ignored;
    }
    match (path.attr.as_str(), path.sub.as_deref()) {
        ("username", None) => Attr::UserName,
        ("name", None) => Attr::Name,
        ("name", Some("givenname")) => Attr::GivenName,
        ("name", Some("familyname")) => Attr::FamilyName,
        ("emails", None) => Attr::Emails,
        ("emails", Some("value")) => Attr::EmailValue,
        ("active", None) => Attr::Active,
        ("externalid", None) => Attr::ExternalId,
        ("usertype", None) => Attr::UserType,
        ("password", None) => Attr::Password,
        _ => Attr::Ignored,
    }
}

fn path_attr(path: &PatchPath) -> Attr {
    match path {
        PatchPath::Attr(p) => attr_of(p),
        PatchPath::Extension(uri) if uri.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => Attr::Enterprise,
        PatchPath::Extension(_) => Attr::Ignored,
        // `emails[type eq "work"].value`: rollcall's one address is the work address.
        PatchPath::Filtered { attr, sub, .. } if attr.attr == "emails" && is_core_uri(&attr.uri) => {
            match sub.as_deref() {
                Some("value") | None => Attr::EmailValue,
                _ => Attr::Ignored,
            }
        }
        PatchPath::Filtered { .. } => Attr::Ignored,
    }
}

fn text(v: Option<&Value>, field: &str) -> Result<String, ScimError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ScimError::invalid_value(format!("{field} must be a string"))),
    }
}

fn opt_text(v: Option<&Value>, field: &str) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        other => text(other, field).map(Some),
    }
}

/// The address among `emails`: the primary one, else the work one, else the first.
fn pick_email(v: &Value) -> Option<String> {
    let list: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return None,
    };
    let value_of = |e: &&Value| get_ci(e, "value").and_then(Value::as_str).map(str::to_owned);
    list.iter()
        .find(|e| get_ci(e, "primary").and_then(as_bool) == Some(true))
        .or_else(|| {
            list.iter().find(|e| {
                get_ci(e, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            })
        })
        .or(list.first())
        .and_then(value_of)
}

/// Applies one attribute change to `state`.
fn apply(
    state: &mut ScimUserState,
    pw: &mut PasswordChange,
    op: OpKind,
    attr: Attr,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let required = |name: &str| ScimError::invalid_value(format!("{name} is required and can't be removed"));
    if op == OpKind::Remove {
        match attr {
            Attr::UserName => return Err(required("userName")),
            Attr::Name | Attr::GivenName | Attr::FamilyName => return Err(required("name")),
            Attr::Emails | Attr::EmailValue => return Err(required("emails")),
            Attr::Active => return Err(required("active")),
            Attr::ExternalId => state.external_id = None,
            Attr::UserType => state.user_type = None,
            Attr::Department | Attr::Enterprise => state.department = None,
            Attr::Password => *pw = PasswordChange::Clear,
            Attr::Ignored => {}
        }
        return Ok(());
    }
    match attr {
        Attr::UserName => state.user_name = text(value, "userName")?,
        Attr::Name => {
            let v = value.ok_or_else(|| ScimError::invalid_value("name needs a value"))?;
            if let Some(g) = get_ci(v, "givenName") {
                state.given_name = text(Some(g), "name.givenName")?;
            }
            if let Some(f) = get_ci(v, "familyName") {
                state.family_name = text(Some(f), "name.familyName")?;
            }
        }
        Attr::GivenName => state.given_name = text(value, "name.givenName")?,
        Attr::FamilyName => state.family_name = text(value, "name.familyName")?,
        Attr::Emails => {
            state.email = value
                .and_then(pick_email)
                .ok_or_else(|| ScimError::invalid_value("emails needs a value"))?
        }
        Attr::EmailValue => state.email = text(value, "emails.value")?,
        Attr::Active => {
            state.active = value
                .and_then(as_bool)
                .ok_or_else(|| ScimError::invalid_value("active must be a boolean"))?
        }
        Attr::ExternalId => state.external_id = opt_text(value, "externalId")?,
        Attr::UserType => state.user_type = opt_text(value, "userType")?,
        Attr::Department => state.department = opt_text(value, "department")?,
        Attr::Enterprise => {
            if let Some(d) = value.and_then(|v| get_ci(v, "department")) {
                state.department = opt_text(Some(d), "department")?;
            }
        }
        Attr::Password => *pw = PasswordChange::Set(text(value, "password")?),
        Attr::Ignored => {}
    }
    Ok(())
}

/// Applies PATCH operations to the current state; returns the wanted state and what to do
/// with the password.
pub fn apply_patch(current: &ScimUserState, ops: &[PatchOp]) -> Result<(ScimUserState, PasswordChange), ScimError> {
    let mut state = current.clone();
    let mut pw = PasswordChange::Keep;
    for op in ops {
        match &op.path {
            Some(path) => apply(&mut state, &mut pw, op.op, path_attr(path), op.value.as_ref())?,
            None => {
                let Some(Value::Object(map)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object value",
                    ));
                };
                for (key, v) in map {
                    apply(&mut state, &mut pw, op.op, path_attr(&key_path(key)?), Some(v))?;
                }
            }
        }
    }
    Ok((state, pw))
}

/// Reads a POST or PUT body. For PUT, `current` supplies `active` when the body omits it
/// (and nothing else: PUT replaces).
pub fn from_json(body: &Value, current: Option<&ScimUserState>) -> Result<(ScimUserState, Option<String>), ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    }
    let user_name = text(get_ci(body, "userName"), "userName")?;
    let name = get_ci(body, "name");
    // RFC 7643 requires only userName. A part of the name the body leaves out comes from
    // what the user has already (a PUT), else from displayName, else name.formatted, else
    // the part of userName before any '@' — one word standing for both parts.
    let words = |v: Option<&Value>| -> Option<(String, String)> {
        let s = v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())?;
        Some(match s.rsplit_once(' ') {
            Some((first, last)) => (first.trim().to_owned(), last.trim().to_owned()),
            None => (s.to_owned(), s.to_owned()),
        })
    };
    let local_part = user_name.split('@').next().unwrap_or_default().trim();
    let derived = words(get_ci(body, "displayName"))
        .or_else(|| words(name.and_then(|n| get_ci(n, "formatted"))))
        .unwrap_or_else(|| (local_part.to_owned(), local_part.to_owned()));
    let name_part = |key: &str, kept: Option<&str>, fallback: &str| -> Result<String, ScimError> {
        match name.and_then(|n| get_ci(n, key)).filter(|v| !v.is_null()) {
            Some(v) => text(Some(v), &format!("name.{key}")),
            None => match kept {
                Some(k) => Ok(k.to_owned()),
                None if !fallback.is_empty() => Ok(fallback.to_owned()),
                None => Err(ScimError::invalid_value(format!("name.{key} is required"))),
            },
        }
    };
    let email = match get_ci(body, "emails").and_then(pick_email) {
        Some(e) => e,
        // Entra often provisions the UPN as userName and no emails.
        None if user_name.contains('@') => user_name.clone(),
        None => return Err(ScimError::invalid_value("emails is required")),
    };
    let enterprise = get_ci(body, ENTERPRISE_SCHEMA);
    let state = ScimUserState {
        given_name: name_part("givenName", current.map(|c| c.given_name.as_str()), &derived.0)?,
        family_name: name_part("familyName", current.map(|c| c.family_name.as_str()), &derived.1)?,
        user_name,
        email,
        active: match get_ci(body, "active") {
            None | Some(Value::Null) => current.is_none_or(|c| c.active),
            Some(v) => as_bool(v).ok_or_else(|| ScimError::invalid_value("active must be a boolean"))?,
        },
        external_id: opt_text(get_ci(body, "externalId"), "externalId")?,
        user_type: opt_text(get_ci(body, "userType"), "userType")?,
        department: opt_text(enterprise.and_then(|e| get_ci(e, "department")), "department")?,
    };
    let password = opt_text(get_ci(body, "password"), "password")?;
    Ok((state, password))
}

pub fn location(base: &str, id: i64) -> String {
    format!("{base}/Users/{id}")
}

pub fn to_json(v: &ScimUserView, base: &str) -> Value {
    let s = &v.state;
    let mut out = json!({
        "schemas": [USER_SCHEMA],
        "id": v.id.to_string(),
        "userName": s.user_name,
        "name": { "givenName": s.given_name, "familyName": s.family_name },
        "emails": [{ "value": s.email, "type": "work" }],
        "active": s.active,
        "meta": {
            "resourceType": "User",
            "created": format_millis(v.created),
            "lastModified": format_millis(v.last_modified),
            "location": location(base, v.id),
            "version": format!("W/\"{}\"", v.last_modified),
        },
    });
    if let Some(e) = &s.external_id {
        out["externalId"] = json!(e);
    }
    if let Some(t) = &s.user_type {
        out["userType"] = json!(t);
    }
    if let Some(d) = &s.department {
        out["schemas"] = json!([USER_SCHEMA, ENTERPRISE_SCHEMA]);
        out[ENTERPRISE_SCHEMA] = json!({ "department": d });
    }
    out
}

/// Does `emails[…]` inner filter hold for rollcall's one address (type work, primary)?
/// Returns `None` when the filter compares the address itself (left to the database).
pub fn email_facet(f: &Filter) -> Option<bool> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(s),
        } if path.attr == "type" => Some(s.eq_ignore_ascii_case("work")),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Bool(b),
        } if path.attr == "primary" => Some(*b),
        Filter::Present(path) if path.attr == "type" || path.attr == "primary" => Some(true),
        _ => None,
    }
}
