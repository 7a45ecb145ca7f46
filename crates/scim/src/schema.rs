//! What rollcall's SCIM server publishes about itself: ServiceProviderConfig, Schemas and
//! ResourceTypes (RFC 7643 §5–7). The schemas list exactly the attributes rollcall stores and
//! returns, so a client generated from them round-trips every value.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Most resources one list page returns.
pub const MAX_RESULTS: i64 = rollcall_core::service::SCIM_MAX_RESULTS;

fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn required(v: Value) -> Value {
    with(v, "required", json!(true))
}

/// The core User schema. `user_types` are the names the identity provider may send as
/// `userType` besides the default (which reads as no `userType` at all).
pub fn user_schema(base: &str, user_types: &[String]) -> Value {
    let attributes = json!([
        with(
            required(attr("userName", "string", "Unique login name; compared ignoring case.")),
            "uniqueness",
            json!("server")
        ),
        with(
            required(attr("name", "complex", "The user's name.")),
            "subAttributes",
            json!([
                required(attr("givenName", "string", "First name.")),
                required(attr("familyName", "string", "Last name.")),
            ])
        ),
        with(
            with(
                required(attr(
                    "emails",
                    "complex",
                    "The user's email address (rollcall keeps one, the primary)."
                )),
                "multiValued",
                json!(true)
            ),
            "subAttributes",
            json!([
                required(attr("value", "string", "The address.")),
                with(
                    attr("type", "string", "Always work."),
                    "canonicalValues",
                    json!(["work"])
                ),
            ])
        ),
        required(attr(
            "active",
            "boolean",
            "Whether the account is active (holds a seat). Absent on create means true."
        )),
        with(
            attr(
                "userType",
                "string",
                "The rollcall user type. Absent means the default type for provisioned users."
            ),
            "canonicalValues",
            json!(user_types),
        ),
        with(
            with(
                attr("password", "string", "Sets the password; never returned."),
                "mutability",
                json!("writeOnly")
            ),
            "returned",
            json!("never")
        ),
    ]);
    schema_resource(base, USER_SCHEMA, "User", "User Account", attributes)
}

pub fn enterprise_schema(base: &str) -> Value {
    let attributes = json!([attr("department", "string", "The rollcall branch the user belongs to.")]);
    schema_resource(base, ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise User", attributes)
}

pub fn group_schema(base: &str) -> Value {
    let member_sub = |name: &str, kind: &str, description: &str| {
        with(attr(name, kind, description), "mutability", json!("immutable"))
    };
    let attributes = json!([
        with(
            required(attr(
                "displayName",
                "string",
                "The group's name; unique, compared ignoring case."
            )),
            "uniqueness",
            json!("server")
        ),
        with(
            with(
                attr("members", "complex", "Users in the group."),
                "multiValued",
                json!(true)
            ),
            "subAttributes",
            json!([
                required(member_sub("value", "string", "The member's id.")),
                with(
                    member_sub("$ref", "reference", "The member's URI."),
                    "referenceTypes",
                    json!(["User"])
                ),
                with(
                    member_sub("type", "string", "Always User."),
                    "canonicalValues",
                    json!(["User"])
                ),
            ])
        ),
    ]);
    schema_resource(base, GROUP_SCHEMA, "Group", "Group", attributes)
}

fn schema_resource(base: &str, id: &str, name: &str, description: &str, attributes: Value) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn all_schemas(base: &str, user_types: &[String]) -> Vec<Value> {
    vec![
        user_schema(base, user_types),
        group_schema(base),
        enterprise_schema(base),
    ]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": true },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A rollcall SCIM token (rollcall token create --scope scim) in the Authorization header.",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

/// A ListResponse around `resources`.
pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
