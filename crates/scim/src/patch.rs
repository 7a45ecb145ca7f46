//! PATCH requests (RFC 7644 §3.5.2), read the way identity providers write them: operation
//! names in any case (`Replace`, `add`), paths with value filters, path-less values with
//! dotted and URN keys.

use crate::error::ScimError;
use crate::filter::{self, AttrPath, Filter};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// Where an operation applies.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchPath {
    /// `name.givenName`, `urn:…:enterprise:2.0:User:department`, `members`.
    Attr(AttrPath),
    /// A whole schema extension named by its URN, e.g. the enterprise User extension.
    Extension(String),
    /// `emails[type eq "work"].value`, `members[value eq "42"]`.
    Filtered {
        attr: AttrPath,
        filter: Filter,
        sub: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A key of an object (case-insensitive, as SCIM attribute names are).
pub fn get_ci<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Booleans as JSON booleans or as the strings `"True"`/`"False"` (Entra sends those).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

const KNOWN_EXTENSIONS: &[&str] = &[crate::schema::ENTERPRISE_SCHEMA];

/// Parses a PATCH `path`.
pub fn parse_path(s: &str) -> Result<PatchPath, ScimError> {
    let s = s.trim();
    if let Some(ext) = KNOWN_EXTENSIONS.iter().find(|e| e.eq_ignore_ascii_case(s)) {
        return Ok(PatchPath::Extension((*ext).to_owned()));
    }
    let Some(open) = s.find('[') else {
        return AttrPath::parse(s)
            .map(PatchPath::Attr)
            .map_err(|e| ScimError::invalid_path(e.to_string()));
    };
    let close = s
        .rfind(']')
        .ok_or_else(|| ScimError::invalid_path(format!("'{s}' has '[' without ']'")))?;
    if close < open {
        return Err(ScimError::invalid_path(format!("'{s}' is not a valid path")));
    }
    let attr = AttrPath::parse(&s[..open]).map_err(|e| ScimError::invalid_path(e.to_string()))?;
    let filter = filter::parse(&s[open + 1..close]).map_err(|e| ScimError::invalid_path(e.to_string()))?;
    let rest = &s[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(sub) if !sub.is_empty() && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') => {
            Some(sub.to_ascii_lowercase())
        }
        None if rest.is_empty() => None,
        _ => return Err(ScimError::invalid_path(format!("'{s}' is not a valid path"))),
    };
    Ok(PatchPath::Filtered { attr, filter, sub })
}

/// Parses a PatchOp body.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an \"Operations\" array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("\"Operations\" is empty"));
    }
    ops.iter()
        .map(|o| {
            let name = get_ci(o, "op").and_then(Value::as_str).unwrap_or_default();
            let op = match name.to_ascii_lowercase().as_str() {
                "add" => OpKind::Add,
                "remove" => OpKind::Remove,
                "replace" => OpKind::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "unknown PATCH op '{name}'; use add, remove or replace"
                    )));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(parse_path(p)?),
                Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
            };
            let value = get_ci(o, "value").cloned();
            if op == OpKind::Remove && path.is_none() {
                return Err(ScimError::new(400, Some("noTarget"), "a remove operation needs a path"));
            }
            if op != OpKind::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!("the {name} operation needs a value")));
            }
            Ok(PatchOp { op, path, value })
        })
        .collect()
}

/// The key of a path-less value, as a path: `name.givenName`, an extension URN, or a
/// URN-prefixed attribute.
pub fn key_path(key: &str) -> Result<PatchPath, ScimError> {
    parse_path(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_in_any_case() {
        let ops = parse_patch(&json!({"Operations": [
            {"op": "Replace", "path": "name.givenName", "value": "Ada"},
            {"op": "add", "value": {"active": false}},
            {"op": "REMOVE", "path": "externalId"}
        ]}))
        .unwrap();
        assert_eq!(
            ops.iter().map(|o| o.op).collect::<Vec<_>>(),
            vec![OpKind::Replace, OpKind::Add, OpKind::Remove]
        );
        assert!(
            matches!(&ops[0].path, Some(PatchPath::Attr(p)) if p.attr == "name" && p.sub.as_deref() == Some("givenname"))
        );
    }

    #[test]
    fn filtered_paths() {
        match parse_path("emails[type eq \"work\"].value").unwrap() {
            PatchPath::Filtered { attr, sub, .. } => {
                assert_eq!(attr.attr, "emails");
                assert_eq!(sub.as_deref(), Some("value"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_path("members[value eq \"42\"]").unwrap(),
            PatchPath::Filtered { sub: None, .. }
        ));
        assert!(matches!(
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").unwrap(),
            PatchPath::Extension(_)
        ));
        assert!(parse_path("emails[type eq \"work\"").is_err());
        assert!(parse_path("members[value eq \"1\"]x").is_err());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(parse_patch(&json!({})).unwrap_err().scim_type, Some("invalidSyntax"));
        assert_eq!(
            parse_patch(&json!({"Operations": [{"op": "move", "path": "a"}]}))
                .unwrap_err()
                .scim_type,
            Some("invalidSyntax")
        );
        assert_eq!(
            parse_patch(&json!({"Operations": [{"op": "remove"}]}))
                .unwrap_err()
                .scim_type,
            Some("noTarget")
        );
        assert_eq!(
            parse_patch(&json!({"Operations": [{"op": "add", "path": "a"}]}))
                .unwrap_err()
                .scim_type,
            Some("invalidValue")
        );
    }

    #[test]
    fn string_booleans() {
        assert_eq!(as_bool(&json!("False")), Some(false));
        assert_eq!(as_bool(&json!("TRUE")), Some(true));
        assert_eq!(as_bool(&json!(true)), Some(true));
        assert_eq!(as_bool(&json!("no")), None);
    }
}
