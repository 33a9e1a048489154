//! The served schema: every attribute a resource can carry, the URNs (from
//! `urn.rs`), and the case-insensitive attribute lookup all of `scim` uses (attribute names are case-insensitive, RFC 7643
//! §2.1, and Okta and Entra spell them as they like).

use serde_json::{json, Map, Value};

use super::error::ScimError;
use crate::provisioning::limits::{bounded, ATTRIBUTE, EMAIL, EXTERNAL_ID, NAME, USER_NAME};
use crate::provisioning::RuleError;

pub use super::urn::*;

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

/// What a client may do with an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    /// Set by the server; what a client sends is ignored (RFC 7644 §3.5.1).
    ReadOnly,
    Immutable,
    /// Accepted, never returned (the password).
    WriteOnly,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// One attribute of a served schema. The same table renders `/Schemas`,
/// decides which attributes of a client's resource are kept, and bounds
/// every string stored.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    /// `string`, `boolean`, `complex`, `reference` or `binary`.
    pub kind: &'static str,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    /// The longest string value kept (`provisioning::limits`).
    pub max_len: usize,
}

const fn string(name: &'static str, max_len: usize) -> Attribute {
    Attribute {
        name,
        kind: "string",
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        max_len,
    }
}

const fn boolean(name: &'static str) -> Attribute {
    Attribute {
        kind: "boolean",
        ..string(name, ATTRIBUTE)
    }
}

const fn reference(name: &'static str, types: &'static [&'static str]) -> Attribute {
    Attribute {
        kind: "reference",
        reference_types: types,
        ..string(name, ATTRIBUTE)
    }
}

const fn complex(name: &'static str, sub_attributes: &'static [Attribute]) -> Attribute {
    Attribute {
        kind: "complex",
        sub_attributes,
        ..string(name, ATTRIBUTE)
    }
}

impl Attribute {
    const fn multi(self) -> Self {
        Attribute {
            multi_valued: true,
            ..self
        }
    }
    const fn required(self) -> Self {
        Attribute {
            required: true,
            ..self
        }
    }
    const fn case_exact(self) -> Self {
        Attribute {
            case_exact: true,
            ..self
        }
    }
    const fn unique(self) -> Self {
        Attribute {
            unique: true,
            ..self
        }
    }
    const fn mutability(self, mutability: Mutability) -> Self {
        Attribute { mutability, ..self }
    }
    const fn canonical(self, values: &'static [&'static str]) -> Self {
        Attribute {
            canonical_values: values,
            ..self
        }
    }

    /// The attribute as `/Schemas` describes it.
    pub fn describe(&self) -> Value {
        let mut a = json!({
            "name": self.name, "type": self.kind, "multiValued": self.multi_valued,
            "description": self.name, "required": self.required, "caseExact": self.case_exact,
            "mutability": self.mutability.as_str(),
            "returned": if self.mutability == Mutability::WriteOnly { "never" } else { "default" },
            "uniqueness": if self.unique { "server" } else { "none" },
        });
        if !self.canonical_values.is_empty() {
            a["canonicalValues"] = json!(self.canonical_values);
        }
        if !self.reference_types.is_empty() {
            a["referenceTypes"] = json!(self.reference_types);
        }
        if !self.sub_attributes.is_empty() {
            a["subAttributes"] = self
                .sub_attributes
                .iter()
                .map(Attribute::describe)
                .collect();
        }
        a
    }
}

/// `value`, `display`, `type` and `primary` of a multi-valued attribute.
const fn typed(value: Attribute, types: &'static [&'static str]) -> [Attribute; 4] {
    [
        value,
        string("display", NAME),
        string("type", ATTRIBUTE).canonical(types),
        boolean("primary"),
    ]
}

const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const EMAILS: [Attribute; 4] = typed(string("value", EMAIL), EMAIL_TYPES);
const PHONE_NUMBERS: [Attribute; 4] = typed(
    string("value", ATTRIBUTE),
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IMS: [Attribute; 4] = typed(
    string("value", ATTRIBUTE),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTOS: [Attribute; 4] = typed(reference("value", &["external"]), &["photo", "thumbnail"]);
const PLAIN: [Attribute; 4] = typed(string("value", ATTRIBUTE), &[]);

/// RFC 7643 §4.1, less `x509Certificates` (nobody sends it).
pub const USER_ATTRIBUTES: &[Attribute] = &[
    string("userName", USER_NAME).required().unique(),
    complex(
        "name",
        &[
            string("formatted", NAME),
            string("familyName", NAME),
            string("givenName", NAME),
            string("middleName", NAME),
            string("honorificPrefix", NAME),
            string("honorificSuffix", NAME),
        ],
    ),
    string("displayName", NAME),
    string("nickName", NAME),
    reference("profileUrl", &["external"]),
    string("title", ATTRIBUTE),
    string("userType", ATTRIBUTE),
    string("preferredLanguage", ATTRIBUTE),
    string("locale", ATTRIBUTE),
    string("timezone", ATTRIBUTE),
    boolean("active"),
    string("password", ATTRIBUTE).mutability(Mutability::WriteOnly),
    complex("emails", &EMAILS).multi(),
    complex("phoneNumbers", &PHONE_NUMBERS).multi(),
    complex("ims", &IMS).multi(),
    complex("photos", &PHOTOS).multi(),
    complex(
        "addresses",
        &[
            string("formatted", ATTRIBUTE),
            string("streetAddress", ATTRIBUTE),
            string("locality", ATTRIBUTE),
            string("region", ATTRIBUTE),
            string("postalCode", ATTRIBUTE),
            string("country", ATTRIBUTE),
            string("type", ATTRIBUTE).canonical(EMAIL_TYPES),
            boolean("primary"),
        ],
    )
    .multi(),
    // Set by the server: a client's `groups` (Okta sends `[]`) is ignored.
    complex(
        "groups",
        &[
            string("value", EXTERNAL_ID).mutability(Mutability::ReadOnly),
            reference("$ref", &["User", "Group"]).mutability(Mutability::ReadOnly),
            string("display", NAME).mutability(Mutability::ReadOnly),
            string("type", ATTRIBUTE)
                .canonical(&["direct", "indirect"])
                .mutability(Mutability::ReadOnly),
        ],
    )
    .multi()
    .mutability(Mutability::ReadOnly),
    complex("entitlements", &PLAIN).multi(),
    complex("roles", &PLAIN).multi(),
    string("externalId", EXTERNAL_ID).case_exact(),
];

/// RFC 7643 §4.3.
pub const ENTERPRISE_USER_ATTRIBUTES: &[Attribute] = &[
    string("employeeNumber", ATTRIBUTE),
    string("costCenter", ATTRIBUTE),
    string("organization", ATTRIBUTE),
    string("division", ATTRIBUTE),
    string("department", ATTRIBUTE),
    complex(
        "manager",
        &[
            string("value", EXTERNAL_ID),
            reference("$ref", &["User"]),
            string("displayName", NAME).mutability(Mutability::ReadOnly),
        ],
    ),
];

/// A group is a team: these are all it keeps.
pub const GROUP_ATTRIBUTES: &[Attribute] = &[
    string("displayName", NAME).required(),
    string("externalId", EXTERNAL_ID).case_exact(),
    complex(
        "members",
        &[
            string("value", EXTERNAL_ID).mutability(Mutability::Immutable),
            reference("$ref", &["User"]).mutability(Mutability::Immutable),
            string("type", ATTRIBUTE)
                .canonical(&["User"])
                .mutability(Mutability::Immutable),
            string("display", NAME).mutability(Mutability::ReadOnly),
        ],
    )
    .multi(),
];

/// Keeps of `object` only the attributes `attributes` declares and a client
/// may write, at every level: a misspelt or unsupported attribute would
/// otherwise be stored and echoed back forever.
pub fn retain_declared(object: &mut Map<String, Value>, attributes: &[Attribute]) {
    object.retain(|key, value| {
        let Some(attribute) = declared(attributes, key) else {
            return false;
        };
        if attribute.mutability == Mutability::ReadOnly {
            return false;
        }
        if !attribute.sub_attributes.is_empty() {
            for element in elements_mut(value) {
                if let Value::Object(inner) = element {
                    retain_declared(inner, attribute.sub_attributes);
                }
            }
        }
        true
    });
}

/// Checks every string of `object` against its attribute's `max_len`, else
/// `invalidValue` naming the attribute by its path: `prefix` is what goes
/// before the name (`""`, `"emails."`, an extension's `"urn:…:User:"`).
pub fn check_lengths(
    object: &Map<String, Value>,
    attributes: &[Attribute],
    prefix: &str,
) -> Result<(), ScimError> {
    for (key, value) in object {
        let Some(attribute) = declared(attributes, key) else {
            continue;
        };
        let path = format!("{prefix}{}", attribute.name);
        for element in elements(value) {
            match element {
                Value::Object(inner) if !attribute.sub_attributes.is_empty() => {
                    check_lengths(inner, attribute.sub_attributes, &format!("{path}."))?
                }
                other => {
                    // A bare value of a complex attribute stands for its
                    // `value`, as in filters.
                    let bound = declared(attribute.sub_attributes, "value").unwrap_or(attribute);
                    check_strings(other, bound, &path)?
                }
            }
        }
    }
    Ok(())
}

/// Any string anywhere in a value of `attribute` (also one of the wrong
/// shape, which is kept as sent) is at most its `max_len` characters.
fn check_strings(value: &Value, attribute: &Attribute, path: &str) -> Result<(), ScimError> {
    match value {
        Value::String(s) => match bounded(attribute.name, s, attribute.max_len) {
            Ok(_) => Ok(()),
            Err(RuleError::Invalid { message, .. }) => {
                Err(ScimError::bad("invalidValue", format!("{path}: {message}")))
            }
            Err(other) => Err(other.into()),
        },
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_strings(v, attribute, path)),
        Value::Object(o) => o
            .values()
            .try_for_each(|v| check_strings(v, attribute, path)),
        _ => Ok(()),
    }
}

fn declared<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The values of a single- or multi-valued attribute.
fn elements(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        single => std::slice::from_ref(single),
    }
}

fn elements_mut(value: &mut Value) -> &mut [Value] {
    match value {
        Value::Array(items) => items,
        single => std::slice::from_mut(single),
    }
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

    #[test]
    fn only_declared_writable_attributes_are_kept_and_strings_are_bounded() {
        let mut user = json!({
            "userName": "ada", "adreses": [], "groups": [{"value": "g"}],
            "Emails": [{"value": "a@b.c", "primery": true}, "bare"],
            "name": {"givenName": "Ada", "nick": "A"},
        });
        let object = user.as_object_mut().unwrap();
        retain_declared(object, USER_ATTRIBUTES);
        assert_eq!(
            user,
            json!({"userName": "ada", "Emails": [{"value": "a@b.c"}, "bare"], "name": {"givenName": "Ada"}})
        );
        let long = |n| Value::String("x".repeat(n));
        for (resource, detail) in [
            (
                json!({"userName": long(USER_NAME + 1)}),
                "userName: must be at most 320 characters",
            ),
            (
                json!({"emails": [{"value": long(EMAIL + 1)}]}),
                "emails.value: must be at most 320 characters",
            ),
            (
                json!({"emails": [long(EMAIL + 1)]}),
                "emails: must be at most 320 characters",
            ),
            (
                json!({"name": {"familyName": long(NAME + 1)}}),
                "name.familyName: must be at most 200 characters",
            ),
        ] {
            let fits = check_lengths(resource.as_object().unwrap(), USER_ATTRIBUTES, "");
            let err = fits.map(|_| resource.clone()).unwrap_err();
            assert_eq!(
                (err.scim_type, err.detail.as_str()),
                (Some("invalidValue"), detail)
            );
        }
        let at_limit = json!({"userName": long(USER_NAME), "title": long(ATTRIBUTE)});
        assert!(check_lengths(at_limit.as_object().unwrap(), USER_ATTRIBUTES, "").is_ok());
    }
}
