//! Queries: filters become rollcall predicates (the store turns them into SQL), and
//! `attributes` / `excludedAttributes` trim what is returned.

use crate::error::ScimError;
use crate::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use crate::schema::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use rollcall_core::domain::parse_time;
use rollcall_core::ports::{CmpOp, GroupField, Pred, PredValue, UserField};
use serde_json::{Map, Value};

fn cmp_op(op: CompareOp) -> CmpOp {
    match op {
        CompareOp::Eq => CmpOp::Eq,
        CompareOp::Ne => CmpOp::Ne,
        CompareOp::Co => CmpOp::Co,
        CompareOp::Sw => CmpOp::Sw,
        CompareOp::Ew => CmpOp::Ew,
        CompareOp::Gt => CmpOp::Gt,
        CompareOp::Ge => CmpOp::Ge,
        CompareOp::Lt => CmpOp::Lt,
        CompareOp::Le => CmpOp::Le,
    }
}

/// How a field's values compare.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Id,
    Time,
    Bool,
}

fn bad(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(detail)
}

/// `field op value` as a predicate, checking the value fits the field.
fn compare<F: Copy>(field: F, kind: Kind, name: &str, op: CompareOp, value: &CompValue) -> Result<Pred<F>, ScimError> {
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    if let CompValue::Null = value {
        return match op {
            CompareOp::Eq => Ok(Pred::Not(Box::new(Pred::Present(field)))),
            CompareOp::Ne => Ok(Pred::Present(field)),
            _ => Err(bad(format!("{name}: only eq and ne compare with null"))),
        };
    }
    let v = match (kind, value) {
        (Kind::Text, CompValue::Str(s)) => PredValue::Text(s.clone()),
        (Kind::Text, _) => return Err(bad(format!("{name} compares with a string"))),
        (Kind::Bool, _) if substring || ordering => return Err(bad(format!("{name} is a boolean: use eq or ne"))),
        (Kind::Bool, CompValue::Bool(b)) => PredValue::Bool(*b),
        (Kind::Bool, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            PredValue::Bool(s.eq_ignore_ascii_case("true"))
        }
        (Kind::Bool, _) => return Err(bad(format!("{name} compares with true or false"))),
        (Kind::Id | Kind::Time, _) if substring => return Err(bad(format!("{name}: co, sw and ew compare strings"))),
        (Kind::Id, CompValue::Str(s)) => match s.trim().parse::<i64>() {
            Ok(n) => PredValue::Int(n),
            // An id rollcall never issues matches nothing (and differs from everything).
            Err(_) => return Ok(Pred::Const(op == CompareOp::Ne)),
        },
        (Kind::Id, CompValue::Num(n)) if n.fract() == 0.0 => PredValue::Int(*n as i64),
        (Kind::Id, _) => return Ok(Pred::Const(op == CompareOp::Ne)),
        (Kind::Time, CompValue::Str(s)) => PredValue::Int(parse_time(name, s).map_err(|e| bad(e.to_string()))?),
        (Kind::Time, _) => return Err(bad(format!("{name} compares with an RFC 3339 time"))),
    };
    Ok(Pred::Cmp(field, cmp_op(op), v))
}

fn is_uri(path: &AttrPath, schema: &str) -> bool {
    path.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(schema))
}

fn user_field(path: &AttrPath) -> Result<(UserField, Kind), ScimError> {
    if path
        .uri
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_SCHEMA))
    {
        return match (path.attr.as_str(), path.sub.as_deref()) {
            ("department", None) => Ok((UserField::Department, Kind::Text)),
            _ => Err(bad(format!("can't filter on the enterprise attribute '{}'", path.attr))),
        };
    }
    if !is_uri(path, USER_SCHEMA) {
        return Err(bad(format!(
            "unknown schema '{}'",
            path.uri.clone().unwrap_or_default()
        )));
    }
    Ok(match (path.attr.as_str(), path.sub.as_deref()) {
        ("id", None) => (UserField::Id, Kind::Id),
        ("username", None) => (UserField::UserName, Kind::Text),
        ("externalid", None) => (UserField::ExternalId, Kind::Text),
        ("active", None) => (UserField::Active, Kind::Bool),
        ("usertype", None) => (UserField::UserType, Kind::Text),
        ("name", Some("givenname")) => (UserField::GivenName, Kind::Text),
        ("name", Some("familyname")) => (UserField::FamilyName, Kind::Text),
        ("emails", None | Some("value")) => (UserField::Email, Kind::Text),
        ("groups", None | Some("value")) => (UserField::GroupId, Kind::Id),
        ("meta", Some("created")) => (UserField::Created, Kind::Time),
        ("meta", Some("lastmodified")) => (UserField::LastModified, Kind::Time),
        _ => return Err(bad(format!("can't filter Users on '{}'", display(path)))),
    })
}

fn group_field(path: &AttrPath) -> Result<(GroupField, Kind), ScimError> {
    if !is_uri(path, GROUP_SCHEMA) {
        return Err(bad(format!(
            "unknown schema '{}'",
            path.uri.clone().unwrap_or_default()
        )));
    }
    Ok(match (path.attr.as_str(), path.sub.as_deref()) {
        ("id", None) => (GroupField::Id, Kind::Id),
        ("displayname", None) => (GroupField::DisplayName, Kind::Text),
        ("externalid", None) => (GroupField::ExternalId, Kind::Text),
        ("members", None | Some("value")) => (GroupField::MemberId, Kind::Id),
        ("meta", Some("created")) => (GroupField::Created, Kind::Time),
        ("meta", Some("lastmodified")) => (GroupField::LastModified, Kind::Time),
        _ => return Err(bad(format!("can't filter Groups on '{}'", display(path)))),
    })
}

fn display(p: &AttrPath) -> String {
    match &p.sub {
        Some(s) => format!("{}.{s}", p.attr),
        None => p.attr.clone(),
    }
}

/// What follows a value path's `]`: a sub-attribute and its comparison (`None`: `pr`).
type Then = Option<(String, Option<(CompareOp, CompValue)>)>;
type FieldOf<'a, F> = &'a dyn Fn(&AttrPath) -> Result<(F, Kind), ScimError>;
type ValuePathOf<'a, F> = &'a dyn Fn(&AttrPath, &Filter, &Then) -> Result<Pred<F>, ScimError>;

/// A filter as a predicate; `field` resolves attribute paths, `facet` answers sub-attribute
/// tests of a value path that rollcall knows without asking the database.
fn translate<F: Copy>(f: &Filter, field: FieldOf<'_, F>, value_path: ValuePathOf<'_, F>) -> Result<Pred<F>, ScimError> {
    Ok(match f {
        Filter::And(a, b) => Pred::And(vec![translate(a, field, value_path)?, translate(b, field, value_path)?]),
        Filter::Or(a, b) => Pred::Or(vec![translate(a, field, value_path)?, translate(b, field, value_path)?]),
        Filter::Not(a) => Pred::Not(Box::new(translate(a, field, value_path)?)),
        Filter::Present(p) => Pred::Present(field(p)?.0),
        Filter::Compare { path, op, value } => {
            let (fd, kind) = field(path)?;
            compare(fd, kind, &display(path), *op, value)?
        }
        Filter::ValuePath { attr, inner, then } => value_path(attr, inner, then)?,
    })
}

/// The sub-attributes of a multi-valued attribute, as one field (the value) plus facets
/// that are constant for rollcall (an email is always `type: work`, `primary: true`).
fn multi_valued<F: Copy>(
    attr: &str,
    value_field: (F, Kind),
    facet: fn(&Filter) -> Option<bool>,
    inner: &Filter,
    then: &Then,
) -> Result<Pred<F>, ScimError> {
    let sub_field = |p: &AttrPath| -> Result<(F, Kind), ScimError> {
        if p.attr == "value" {
            Ok(value_field)
        } else {
            Err(bad(format!("can't filter {attr} on '{}'", p.attr)))
        }
    };
    let inner_pred = match inner {
        f @ (Filter::Compare { .. } | Filter::Present(_)) if facet(f).is_some() => {
            Pred::Const(facet(f).unwrap_or(false))
        }
        f => translate(f, &|p| sub_field(p), &|_, _, _| {
            Err(bad("value filters can't be nested"))
        })?,
    };
    let then_pred = match then {
        None => Pred::Const(true),
        Some((sub, None)) => Pred::Present(
            sub_field(&AttrPath {
                uri: None,
                attr: sub.clone(),
                sub: None,
            })?
            .0,
        ),
        Some((sub, Some((op, v)))) => {
            let (fd, kind) = sub_field(&AttrPath {
                uri: None,
                attr: sub.clone(),
                sub: None,
            })?;
            compare(fd, kind, sub, *op, v)?
        }
    };
    Ok(Pred::And(vec![inner_pred, then_pred]))
}

pub fn user_filter(input: &str) -> Result<Pred<UserField>, ScimError> {
    let f = filter::parse(input)?;
    translate(&f, &user_field, &|attr, inner, then| match attr.attr.as_str() {
        "emails" if is_uri(attr, USER_SCHEMA) => multi_valued(
            "emails",
            (UserField::Email, Kind::Text),
            crate::user::email_facet,
            inner,
            then,
        ),
        "groups" if is_uri(attr, USER_SCHEMA) => {
            multi_valued("groups", (UserField::GroupId, Kind::Id), |_| None, inner, then)
        }
        _ => Err(bad(format!(
            "'{}' is not a multi-valued attribute rollcall filters on",
            attr.attr
        ))),
    })
}

pub fn group_filter(input: &str) -> Result<Pred<GroupField>, ScimError> {
    let f = filter::parse(input)?;
    translate(&f, &group_field, &|attr, inner, then| match attr.attr.as_str() {
        "members" if is_uri(attr, GROUP_SCHEMA) => {
            multi_valued("members", (GroupField::MemberId, Kind::Id), |_| None, inner, then)
        }
        _ => Err(bad(format!(
            "'{}' is not a multi-valued attribute rollcall filters on",
            attr.attr
        ))),
    })
}

/// `attributes` or `excludedAttributes`: comma-separated attribute paths.
pub fn attribute_list(s: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    let Some(s) = s else { return Ok(vec![]) };
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
                return Ok(AttrPath {
                    uri: Some(ENTERPRISE_SCHEMA.to_ascii_lowercase()),
                    attr: String::new(),
                    sub: None,
                });
            }
            AttrPath::parse(p).map_err(|e| ScimError::invalid_value(e.to_string()))
        })
        .collect()
}

/// Where an attribute lives in a resource: the extension object's key (if any), the
/// attribute's key, the sub-attribute's key.
fn locate(resource: &Map<String, Value>, p: &AttrPath) -> (Option<String>, Option<String>, Option<String>) {
    let find = |m: &Map<String, Value>, name: &str| m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    let ext = p
        .uri
        .as_deref()
        .filter(|u| !u.eq_ignore_ascii_case(USER_SCHEMA) && !u.eq_ignore_ascii_case(GROUP_SCHEMA));
    let ext_key = ext.and_then(|u| find(resource, u));
    (ext_key, (!p.attr.is_empty()).then(|| p.attr.clone()), p.sub.clone())
}

fn matches_key(k: &str, name: &str) -> bool {
    k.eq_ignore_ascii_case(name)
}

/// Trims a resource to `attributes` (plus `id` and `schemas`, always returned), or removes
/// `excluded` from it. The two are exclusive: `attributes` wins if both are given.
pub fn project(resource: Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Value::Object(mut map) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for key in ["schemas", "id"] {
            if let Some(v) = map.get(key) {
                out.insert(key.to_owned(), v.clone());
            }
        }
        for p in attributes {
            let (ext, attr, sub) = locate(&map, p);
            let (source, target): (Option<&Map<String, Value>>, &mut Map<String, Value>) = match ext {
                Some(ref e) => {
                    let src = map.get(e).and_then(Value::as_object);
                    let entry = out.entry(e.clone()).or_insert_with(|| Value::Object(Map::new()));
                    match (src, entry.as_object_mut()) {
                        (Some(s), Some(t)) => (Some(s), t),
                        _ => continue,
                    }
                }
                None => (Some(&map), &mut out),
            };
            let Some(source) = source else { continue };
            let Some(attr) = attr else {
                if ext.is_some() {
                    target.extend(source.clone());
                }
                continue;
            };
            let Some((key, value)) = source.iter().find(|(k, _)| matches_key(k, &attr)) else {
                continue;
            };
            let picked = match (&sub, value) {
                (None, v) => v.clone(),
                (Some(s), Value::Object(o)) => {
                    let mut kept = target.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
                    if let Some((sk, sv)) = o.iter().find(|(k, _)| matches_key(k, s)) {
                        kept.insert(sk.clone(), sv.clone());
                    }
                    Value::Object(kept)
                }
                (Some(s), Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .filter_map(|it| it.as_object())
                        .map(|o| {
                            Value::Object(
                                o.iter()
                                    .filter(|(k, _)| matches_key(k, s))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
                (Some(_), other) => other.clone(),
            };
            target.insert(key.clone(), picked);
        }
        // An extension with nothing kept is not returned.
        out.retain(|_, v| !v.as_object().is_some_and(|o| o.is_empty()));
        return Value::Object(out);
    }
    for p in excluded {
        let (ext, attr, sub) = locate(&map, p);
        let target = match ext {
            Some(e) => match map.get_mut(&e).and_then(Value::as_object_mut) {
                Some(t) => t,
                None => continue,
            },
            None => &mut map,
        };
        let Some(attr) = attr else { continue };
        if matches_key(&attr, "id") || matches_key(&attr, "schemas") {
            continue;
        }
        let Some(key) = target.keys().find(|k| matches_key(k, &attr)).cloned() else {
            continue;
        };
        match sub {
            None => {
                target.remove(&key);
            }
            Some(s) => match target.get_mut(&key) {
                Some(Value::Object(o)) => o.retain(|k, _| !matches_key(k, &s)),
                Some(Value::Array(items)) => {
                    for it in items.iter_mut().filter_map(Value::as_object_mut) {
                        it.retain(|k, _| !matches_key(k, &s));
                    }
                }
                _ => {}
            },
        }
    }
    let ext_keys: Vec<String> = map
        .keys()
        .filter(|k| k.to_ascii_lowercase().starts_with("urn:"))
        .cloned()
        .collect();
    for k in ext_keys {
        if map.get(&k).and_then(Value::as_object).is_some_and(|o| o.is_empty()) {
            map.remove(&k);
        }
    }
    Value::Object(map)
}

/// `startIndex` (1-based; below 1 means 1) and `count` (negative means 0; capped).
pub fn paging(start_index: Option<i64>, count: Option<i64>) -> (i64, i64) {
    let start = start_index.unwrap_or(1).max(1);
    let count = count.unwrap_or(100).clamp(0, crate::schema::MAX_RESULTS);
    (start, count)
}
