//! The User resource: what a client sends is normalised (Entra's and Okta's
//! quirks folded into the RFC form), stored as JSON, and rendered back with
//! `id` and `meta`; attribute selection for responses.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::{self, get_ci};
use crate::provisioning::ScimUserFacts;
use crate::store::{ScimUserRow, UserProfile};

/// Removes attribute `name` (in any case) from `object`.
fn take(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = schema::key_of(object, name)?.clone();
    object.remove(&key)
}

/// Keeps of a user document only what the served schemas declare and a
/// client may write, in the core attributes and the enterprise extension;
/// returns the extension, taken out of `object` (absent when empty).
fn retain_declared(object: &mut Map<String, Value>) -> Option<Map<String, Value>> {
    let enterprise = take(object, schema::ENTERPRISE_USER);
    let schemas = take(object, "schemas");
    schema::retain_declared(object, schema::USER_ATTRIBUTES);
    if let Some(schemas) = schemas {
        object.insert("schemas".into(), schemas);
    }
    let Some(Value::Object(mut enterprise)) = enterprise else {
        return None;
    };
    schema::retain_declared(&mut enterprise, schema::ENTERPRISE_USER_ATTRIBUTES);
    (!enterprise.is_empty()).then_some(enterprise)
}

/// Client-writable view of a user: quirks normalised; what the served
/// schemas do not declare, read-only attributes (id, meta, groups) and the
/// write-only password removed; every string bounded. Returns the password
/// separately (write-only: hashed, never stored in the document).
pub fn normalize_user(mut body: Value) -> Result<(Value, Option<String>), ScimError> {
    let Some(object) = body.as_object_mut() else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    };
    let password = match take(object, "password") {
        Some(Value::String(p)) if !p.is_empty() => Some(p),
        Some(Value::Null) | Some(Value::String(_)) | None => None,
        Some(_) => return Err(ScimError::bad("invalidValue", "password must be a string")),
    };
    if let Some(active) = take(object, "active") {
        let active = parse_bool(&active)
            .ok_or_else(|| ScimError::bad("invalidValue", "active must be a boolean"))?;
        object.insert("active".into(), Value::Bool(active));
    }
    let enterprise = retain_declared(object).map(|mut enterprise| {
        // Entra writes the manager as a bare id; RFC 7643 §4.3 wants {"value": id}.
        if let Some(key) = schema::key_of(&enterprise, "manager").cloned() {
            if let Some(Value::String(manager)) = enterprise.get(&key).cloned() {
                enterprise.insert(key, json!({ "value": manager }));
            }
        }
        enterprise
    });
    schema::check_lengths(object, schema::USER_ATTRIBUTES, "")?;
    // `schemas` lists exactly the core schema plus the extensions present
    // (an extension emptied by PATCH is gone).
    let mut schemas = vec![json!(schema::USER)];
    if let Some(enterprise) = enterprise {
        schema::check_lengths(
            &enterprise,
            schema::ENTERPRISE_USER_ATTRIBUTES,
            &format!("{}:", schema::ENTERPRISE_USER),
        )?;
        object.insert(schema::ENTERPRISE_USER.into(), Value::Object(enterprise));
        schemas.push(json!(schema::ENTERPRISE_USER));
    }
    object.insert("schemas".into(), Value::Array(schemas));
    Ok((body, password))
}

/// `true`/`false`, also as the strings Entra sends ("True", "False").
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The email the account is keyed by: primary, else work, else the first.
fn chosen_email(object: &Map<String, Value>) -> Option<String> {
    let emails = get_ci(object, "emails")?.as_array()?;
    let value = |e: &Value| e.as_object().and_then(|o| text(get_ci(o, "value")));
    let is = |e: &Value, key: &str, want: &Value| {
        e.as_object().and_then(|o| get_ci(o, key)).is_some_and(|v| {
            v == want
                || v.as_str()
                    .zip(want.as_str())
                    .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        })
    };
    emails
        .iter()
        .find(|e| is(e, "primary", &json!(true)))
        .or_else(|| emails.iter().find(|e| is(e, "type", &json!("work"))))
        .or_else(|| emails.first())
        .and_then(value)
}

/// The facts the provisioning rules need, read from a normalised resource.
pub fn user_facts(resource: &Value) -> Result<ScimUserFacts, ScimError> {
    let object = resource
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let user_name = text(get_ci(object, "userName"))
        .ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?;
    let name = get_ci(object, "name").and_then(Value::as_object);
    let profile = UserProfile {
        given_name: name.and_then(|n| text(get_ci(n, "givenName"))),
        family_name: name.and_then(|n| text(get_ci(n, "familyName"))),
        display_name: text(get_ci(object, "displayName"))
            .or_else(|| name.and_then(|n| text(get_ci(n, "formatted")))),
    };
    let active = get_ci(object, "active")
        .and_then(parse_bool)
        .unwrap_or(true);
    let external_id = text(get_ci(object, "externalId"));
    ScimUserFacts::new(
        user_name,
        chosen_email(object),
        profile,
        external_id,
        active,
    )
    .map_err(ScimError::from)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The resource as GET returns it. Only what the served schemas declare:
/// a document stored before they were enforced may hold more.
pub fn render_user(row: &ScimUserRow, location: &str) -> Value {
    let mut resource: Value = serde_json::from_str(&row.resource).unwrap_or_else(|_| json!({}));
    if let Some(object) = resource.as_object_mut() {
        if let Some(enterprise) = retain_declared(object) {
            object.insert(schema::ENTERPRISE_USER.into(), Value::Object(enterprise));
        }
        object.insert("id".into(), json!(row.id));
        object.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": rfc3339(row.created_at),
                "lastModified": rfc3339(row.updated_at),
                "location": location,
                "version": format!("W/\"{}\"", row.version),
            }),
        );
    }
    resource
}

/// Applies `attributes` / `excludedAttributes` (comma-separated paths;
/// `id` and `schemas` are always returned).
pub fn project(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let list = |s: Option<&str>| -> Vec<String> {
        s.unwrap_or("")
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    let (wanted, unwanted) = (list(attributes), list(excluded));
    let Value::Object(object) = resource else {
        return resource;
    };
    let mut out = Map::new();
    for (key, value) in object {
        let always = key == "id" || key == "schemas";
        let path_matches = |path: &String| {
            let path = path
                .strip_prefix(&format!("{}:", schema::USER))
                .unwrap_or(path);
            let head = path.split('.').next().unwrap_or(path);
            head.eq_ignore_ascii_case(&key)
                || path.eq_ignore_ascii_case(&key)
                || path
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}:", key.to_ascii_lowercase()))
        };
        if !always && !wanted.is_empty() && !wanted.iter().any(path_matches) {
            continue;
        }
        if !always
            && unwanted.iter().any(|p| {
                p.eq_ignore_ascii_case(&key)
                    || p.strip_prefix(&format!("{}:", schema::USER))
                        .is_some_and(|p| p.eq_ignore_ascii_case(&key))
            })
        {
            continue;
        }
        out.insert(key, value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_quirks_are_folded_into_the_rfc_form() {
        let body = json!({
            "schemas": [schema::USER],
            "id": "client-chosen", "meta": {"resourceType": "User"},
            "userName": "Ada@Example.com", "active": "False", "password": "hunter2",
            "emails": [{"type": "home", "value": "ada@home.example"}, {"type": "work", "value": "ada@example.com"}],
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            (schema::ENTERPRISE_USER): {"manager": "boss-id", "employeeNumber": "7"}
        });
        let (resource, password) = normalize_user(body).unwrap();
        assert_eq!(password.as_deref(), Some("hunter2"));
        assert!(
            resource.get("password").is_none()
                && resource.get("id").is_none()
                && resource.get("meta").is_none()
        );
        assert_eq!(resource["active"], json!(false));
        assert_eq!(
            resource[schema::ENTERPRISE_USER]["manager"],
            json!({"value": "boss-id"})
        );
        assert!(resource["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(schema::ENTERPRISE_USER)));
        let facts = user_facts(&resource).unwrap();
        assert_eq!(
            facts.email.as_deref(),
            Some("ada@example.com"),
            "work email wins"
        );
        assert!(!facts.active);
        assert_eq!(facts.profile.given_name.as_deref(), Some("Ada"));
        assert!(user_facts(&json!({"userName": ""})).is_err());
        // No email anywhere: kept as a resource, but no account to attach.
        assert_eq!(
            user_facts(&json!({"userName": "not-an-email"}))
                .unwrap()
                .email,
            None
        );
        assert!(user_facts(&json!({"userName": "x", "emails": [{"value": "bad@"}]})).is_err());
        assert!(normalize_user(json!({"userName": "a@b.c", "active": "maybe"})).is_err());
        // The RFC form of the manager is kept as it is.
        let manager = json!({"value": "boss-id", "$ref": "https://x.example/Users/boss-id"});
        let (resource, _) = normalize_user(
            json!({"userName": "a@b.c", (schema::ENTERPRISE_USER): {"manager": manager.clone()}}),
        )
        .unwrap();
        assert_eq!(resource[schema::ENTERPRISE_USER]["manager"], manager);
    }

    #[test]
    fn attribute_selection() {
        let r = json!({"id": "1", "schemas": [schema::USER], "userName": "a", "emails": [], "name": {"givenName": "A"}});
        let only = project(r.clone(), Some("userName,name.givenName"), None);
        assert_eq!(
            only,
            json!({"id": "1", "schemas": [schema::USER], "userName": "a", "name": {"givenName": "A"}})
        );
        let without = project(r, None, Some("emails"));
        assert!(without.get("emails").is_none() && without.get("userName").is_some());
    }
}
