//! SCIM Group ↔ rollcall group. PATCH becomes a list of [`GroupChange`]s, each membership a
//! row of its own, so two identity-provider requests adding different members both land.

use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::patch::{OpKind, PatchOp, PatchPath, get_ci, key_path};
use crate::schema::GROUP_SCHEMA;
use rollcall_core::domain::format_millis;
use rollcall_core::service::{GroupChange, ScimGroupView};
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<i64>,
}

fn member_id(v: &Value) -> Result<i64, ScimError> {
    let raw = match v {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    raw.ok_or_else(|| ScimError::invalid_value(format!("no user with id {v}")))
}

/// Member ids from `[{"value": "42"}, …]` (or a single member object).
fn member_ids(v: Option<&Value>) -> Result<Vec<i64>, ScimError> {
    let list: Vec<&Value> = match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(_) => return Err(ScimError::invalid_value("members must be a list of {\"value\": id}")),
    };
    list.into_iter()
        .map(|m| member_id(get_ci(m, "value").ok_or_else(|| ScimError::invalid_value("each member needs a value"))?))
        .collect()
}

/// The ids a `members[value eq "…" or value eq "…"]` path names.
fn filter_ids(f: &Filter, out: &mut Vec<i64>) -> Result<(), ScimError> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.attr == "value" && path.sub.is_none() => {
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => json!(n),
                _ => return Err(ScimError::invalid_filter("a member value is an id")),
            };
            out.push(member_id(&v)?);
            Ok(())
        }
        Filter::Or(a, b) => {
            filter_ids(a, out)?;
            filter_ids(b, out)
        }
        _ => Err(ScimError::invalid_filter(
            "members can be selected by `value eq \"id\"` (joined with or)",
        )),
    }
}

fn text(v: Option<&Value>, field: &str) -> Result<String, ScimError> {
    v.and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("{field} must be a string")))
}

fn opt_text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub fn from_json(body: &Value) -> Result<GroupInput, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("a Group must be a JSON object"));
    }
    Ok(GroupInput {
        display_name: text(get_ci(body, "displayName"), "displayName")?,
        external_id: opt_text(get_ci(body, "externalId")),
        members: member_ids(get_ci(body, "members"))?,
    })
}

/// What a PUT means: rename, set the external id, and make the members exactly these.
pub fn replace_changes(input: GroupInput) -> Vec<GroupChange> {
    vec![
        GroupChange::Rename(input.display_name),
        GroupChange::ExternalId(input.external_id),
        GroupChange::ReplaceMembers(input.members),
    ]
}

fn change_for(op: OpKind, attr: &str, value: Option<&Value>) -> Result<Option<GroupChange>, ScimError> {
    Ok(Some(match (attr, op) {
        ("members", OpKind::Add) => GroupChange::AddMembers(member_ids(value)?),
        ("members", OpKind::Replace) => GroupChange::ReplaceMembers(member_ids(value)?),
        // Entra removes members by listing them as the value: only those go.
        ("members", OpKind::Remove) if value.is_some_and(|v| !v.is_null()) => {
            GroupChange::RemoveMembers(member_ids(value)?)
        }
        ("members", OpKind::Remove) => GroupChange::RemoveAllMembers,
        ("displayname", OpKind::Remove) => return Err(ScimError::invalid_value("displayName is required")),
        ("displayname", _) => GroupChange::Rename(text(value, "displayName")?),
        ("externalid", OpKind::Remove) => GroupChange::ExternalId(None),
        ("externalid", _) => GroupChange::ExternalId(opt_text(value)),
        _ => return Ok(None),
    }))
}

pub fn patch_changes(ops: &[PatchOp]) -> Result<Vec<GroupChange>, ScimError> {
    let mut out = vec![];
    for op in ops {
        match &op.path {
            Some(PatchPath::Attr(p)) if p.sub.is_none() => out.extend(change_for(op.op, &p.attr, op.value.as_ref())?),
            Some(PatchPath::Attr(p))
                if p.attr == "members" && p.sub.as_deref() == Some("value") && op.op == OpKind::Remove =>
            {
                out.push(GroupChange::RemoveAllMembers)
            }
            Some(PatchPath::Filtered {
                attr,
                filter,
                sub: None,
            }) if attr.attr == "members" && op.op == OpKind::Remove => {
                let mut ids = vec![];
                filter_ids(filter, &mut ids)?;
                out.push(GroupChange::RemoveMembers(ids));
            }
            Some(PatchPath::Filtered { .. }) => {
                return Err(ScimError::invalid_path(
                    "on a Group, only remove takes a filtered path (members[value eq \"id\"])",
                ));
            }
            Some(_) => {}
            None => {
                let Some(Value::Object(map)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object value",
                    ));
                };
                for (key, v) in map {
                    // Okta's rename sends the group's own id along: read-only, ignored.
                    if let PatchPath::Attr(p) = key_path(key)? {
                        out.extend(change_for(op.op, &p.attr, Some(v))?);
                    }
                }
            }
        }
    }
    Ok(out)
}

pub fn location(base: &str, id: i64) -> String {
    format!("{base}/Groups/{id}")
}

pub fn to_json(v: &ScimGroupView, base: &str) -> Value {
    let members: Vec<Value> = v
        .members
        .iter()
        .map(|id| json!({ "value": id.to_string(), "$ref": crate::user::location(base, *id), "type": "User" }))
        .collect();
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": v.id.to_string(),
        "displayName": v.display_name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": format_millis(v.created),
            "lastModified": format_millis(v.last_modified),
            "location": location(base, v.id),
            "version": format!("W/\"{}\"", v.last_modified),
        },
    });
    if v.members.is_empty() {
        out.as_object_mut().expect("object").remove("members");
    }
    if let Some(e) = &v.external_id {
        out["externalId"] = json!(e);
    }
    out
}
