//! Every SCIM URN this server speaks, and the case-insensitive attribute
//! lookup all of `scim` uses (attribute names are case-insensitive, RFC 7643
//! §2.1, and Okta and Entra spell them as they like).

use serde_json::{Map, Value};

/// Prefix of the core schemas; an attribute qualified by one is top-level.
pub const CORE_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The key under which `object` holds attribute `name`: the exact spelling
/// first, else any ASCII-case variant.
pub fn key_of<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a String> {
    object
        .get_key_value(name)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(k, _)| k)
}

/// Attribute `name` of `object`, found case-insensitively.
pub fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    key_of(object, name).and_then(|k| object.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_prefers_the_exact_spelling_then_any_case() {
        let o = json!({"userName": 1, "USERNAME": 2, "Emails": 3});
        let o = o.as_object().unwrap();
        assert_eq!(get_ci(o, "USERNAME"), Some(&json!(2)));
        assert_eq!(get_ci(o, "emails"), Some(&json!(3)));
        assert_eq!(key_of(o, "EMAILS").map(String::as_str), Some("Emails"));
        assert_eq!(get_ci(o, "name"), None);
    }
}
