//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, with the forms
//! Okta and Entra send: capitalised ops, no-path values with dotted or
//! URN-qualified keys, filtered paths that must create the element when
//! nothing matches, member removal by value.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{matches, parse_path, AttrPath, CompareOp, Filter, PatchPath};
use super::schema::{self, get_ci, key_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn invalid_path(path: &str, why: impl std::fmt::Display) -> ScimError {
    ScimError::bad("invalidPath", format!("path {path:?}: {why}"))
}

/// The key to write attribute `wanted` under: the one already stored in any
/// case, else `wanted` as the client spelled it.
fn key_in(object: &Map<String, Value>, wanted: &str) -> String {
    key_of(object, wanted).map_or_else(|| wanted.to_string(), String::clone)
}

/// Attributes compare case-insensitively except these (RFC 7643 caseExact).
pub fn case_exact(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("id") || path.attr.eq_ignore_ascii_case("externalId")
}

/// The object holding `path`'s attribute: the resource itself for core
/// attributes, the extension object for extension URNs (created on demand).
fn container<'a>(
    resource: &'a mut Map<String, Value>,
    path: &AttrPath,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    match path.schema.as_deref() {
        None => Ok(resource),
        Some(s)
            if s.eq_ignore_ascii_case(schema::USER) || s.eq_ignore_ascii_case(schema::GROUP) =>
        {
            Ok(resource)
        }
        Some(schema) => {
            let key = key_in(resource, schema);
            let slot = resource
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut()
                .ok_or_else(|| invalid_path(schema, "is not an object"))
        }
    }
}

fn merge(target: &mut Value, value: Value) {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, v) in v {
                let key = key_in(t, &k);
                t.insert(key, v);
            }
        }
        (t, v) => *t = v,
    }
}

/// Sets one attribute (optionally a sub-attribute of it).
fn set(container: &mut Map<String, Value>, attr: &str, sub: Option<&str>, op: Op, value: Value) {
    let key = key_in(container, attr);
    match sub {
        Some(sub) => {
            let slot = container.entry(key).or_insert(Value::Null);
            if let Value::Object(object) = slot {
                let sub_key = key_in(object, sub);
                object.insert(sub_key, value);
            } else {
                // Whatever was there is replaced by an object holding the sub-attribute.
                *slot = Value::Object(Map::from_iter([(sub.to_string(), value)]));
            }
        }
        None => match (container.get_mut(&key), op, value) {
            // add to a multi-valued attribute appends
            (Some(Value::Array(existing)), Op::Add, Value::Array(more)) => {
                for v in more {
                    if !existing.contains(&v) {
                        existing.push(v);
                    }
                }
            }
            (Some(Value::Array(existing)), Op::Add, single) if !single.is_array() => {
                existing.push(single)
            }
            // complex attributes take the given sub-attributes
            (Some(existing @ Value::Object(_)), _, value @ Value::Object(_)) => {
                merge(existing, value)
            }
            (_, _, value) => {
                container.insert(key, value);
            }
        },
    }
}

/// Attribute values a filter pins with `eq` (for creating a missing element).
fn pinned(filter: &Filter, out: &mut Map<String, Value>) {
    match filter {
        Filter::Compare(path, CompareOp::Eq, value) if path.sub_attr.is_none() => {
            out.insert(path.attr.clone(), value.clone());
        }
        Filter::And(a, b) => {
            pinned(a, out);
            pinned(b, out);
        }
        _ => {}
    }
}

fn apply_filtered(
    container: &mut Map<String, Value>,
    pp: &PatchPath,
    filter: &Filter,
    op: Op,
    value: Option<Value>,
    raw: &str,
) -> Result<(), ScimError> {
    let key = key_in(container, &pp.attr.attr);
    let slot = container
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(elements) = slot else {
        return Err(invalid_path(
            raw,
            "a filter applies only to a multi-valued attribute",
        ));
    };
    let mut hits = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        if matches(filter, element, &case_exact).map_err(|e| invalid_path(raw, e.message))? {
            hits.push(i);
        }
    }
    match op {
        Op::Remove => {
            for i in hits.into_iter().rev() {
                match &pp.sub_attr {
                    Some(sub) => {
                        if let Some(o) = elements[i].as_object_mut() {
                            let k = key_in(o, sub);
                            o.remove(&k);
                        }
                    }
                    None => {
                        elements.remove(i);
                    }
                }
            }
        }
        Op::Add | Op::Replace => {
            let value = value.ok_or_else(|| {
                ScimError::bad("invalidSyntax", format!("{raw}: add/replace needs a value"))
            })?;
            if hits.is_empty() {
                // Entra relies on this: a filtered path that matches nothing
                // creates the element it describes.
                let mut created = Map::new();
                pinned(filter, &mut created);
                let element = match &pp.sub_attr {
                    Some(sub) => {
                        created.insert(sub.clone(), value);
                        Value::Object(created)
                    }
                    None => {
                        let mut element = Value::Object(created);
                        merge(&mut element, value);
                        element
                    }
                };
                elements.push(element);
                return Ok(());
            }
            for i in hits {
                match &pp.sub_attr {
                    Some(sub) => {
                        if let Some(o) = elements[i].as_object_mut() {
                            let k = key_in(o, sub);
                            o.insert(k, value.clone());
                        }
                    }
                    None => merge(&mut elements[i], value.clone()),
                }
            }
        }
    }
    Ok(())
}

fn apply_path(
    resource: &mut Map<String, Value>,
    raw: &str,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    // The path may name a whole extension (`urn:…:enterprise:2.0:User`):
    // that is one attribute of the resource, not a URN-qualified one.
    if raw.eq_ignore_ascii_case(schema::ENTERPRISE_USER) {
        let key = key_in(resource, schema::ENTERPRISE_USER);
        return match (op, value) {
            (Op::Remove, _) => {
                resource.remove(&key);
                Ok(())
            }
            (_, Some(value @ Value::Object(_))) => {
                merge(
                    resource
                        .entry(key)
                        .or_insert_with(|| Value::Object(Map::new())),
                    value,
                );
                Ok(())
            }
            _ => Err(ScimError::bad(
                "invalidValue",
                format!("{raw} takes an object value"),
            )),
        };
    }
    let pp = parse_path(raw).map_err(|e| invalid_path(raw, e.message))?;
    if pp.attr.schema.is_none()
        && (pp.attr.attr.eq_ignore_ascii_case("id") || pp.attr.attr.eq_ignore_ascii_case("meta"))
    {
        return Err(ScimError::bad("mutability", format!("{raw} is read-only")));
    }
    let container = container(resource, &pp.attr)?;
    if let Some(filter) = &pp.filter {
        return apply_filtered(container, &pp, filter, op, value, raw);
    }
    let sub = pp.attr.sub_attr.as_deref();
    match op {
        Op::Remove => {
            let key = key_in(container, &pp.attr.attr);
            match (sub, value) {
                (Some(sub), _) => {
                    if let Some(Value::Object(o)) = container.get_mut(&key) {
                        let k = key_in(o, sub);
                        o.remove(&k);
                    }
                }
                // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]}
                (None, Some(Value::Array(gone)))
                    if container.get(&key).is_some_and(Value::is_array) =>
                {
                    let ids: Vec<&Value> =
                        gone.iter().map(|g| g.get("value").unwrap_or(g)).collect();
                    if let Some(Value::Array(elements)) = container.get_mut(&key) {
                        elements.retain(|e| !ids.contains(&e.get("value").unwrap_or(e)));
                    }
                }
                (None, _) => {
                    container.remove(&key);
                }
            }
            Ok(())
        }
        Op::Add | Op::Replace => {
            let value = value.ok_or_else(|| {
                ScimError::bad("invalidSyntax", format!("{raw}: add/replace needs a value"))
            })?;
            set(container, &pp.attr.attr, sub, op, value);
            Ok(())
        }
    }
}

/// One operation of a PatchOp body, checked for what it says on its own.
#[derive(Debug, Clone)]
enum Operation {
    /// `path` is trimmed and not empty.
    AtPath {
        op: Op,
        path: String,
        value: Option<Value>,
    },
    /// No path: the value's keys are the attributes (not `remove`).
    Values { op: Op, values: Map<String, Value> },
}

/// A PatchOp body, parsed once and applied to each read of the resource
/// (a PATCH that raced another write is applied again to the new version).
#[derive(Debug, Clone)]
pub struct PatchOps(Vec<Operation>);

impl PatchOps {
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let body = body
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a PatchOp object"))?;
        let operations = get_ci(body, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the body needs an Operations array"))?;
        operations
            .iter()
            .map(Operation::parse)
            .collect::<Result<_, _>>()
            .map(PatchOps)
    }

    /// The password an operation sets (Okta's password push): write-only, so
    /// it is taken from the operations, never from the patched resource.
    pub fn password(&self) -> Option<&str> {
        let is_password = |path: &str| path.eq_ignore_ascii_case("password");
        // The last operation that names the password decides, as applying
        // them in order would.
        let last = self.0.iter().rev().find_map(|o| match o {
            Operation::AtPath {
                op: Op::Remove,
                path,
                ..
            } if is_password(path) => Some(None),
            Operation::AtPath { path, value, .. } if is_password(path) => Some(value.as_ref()),
            Operation::Values { values, .. } => get_ci(values, "password").map(Some),
            Operation::AtPath { .. } => None,
        });
        last.flatten()
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
    }

    /// Applies every operation to `resource` (all or nothing: the caller
    /// saves only if every operation applied).
    pub fn apply(&self, resource: &mut Value) -> Result<(), ScimError> {
        let resource = resource
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "resource is not an object"))?;
        for operation in &self.0 {
            match operation {
                Operation::AtPath { op, path, value } => {
                    apply_path(resource, path, *op, value.clone())?
                }
                Operation::Values { op, values } => {
                    for (key, v) in values.clone() {
                        // A whole extension object (`"urn:…:enterprise:2.0:User": {…}`)
                        // versus one URN-qualified attribute (`"urn:…:User:department"`).
                        let schema_urn = key.starts_with("urn:")
                            && (key.ends_with(":User") || key.ends_with(":Group"));
                        if schema_urn && v.is_object() {
                            let slot = resource
                                .entry(key_in(resource, &key))
                                .or_insert_with(|| Value::Object(Map::new()));
                            merge(slot, v);
                        } else if key.contains('.') || key.starts_with("urn:") {
                            apply_path(resource, &key, *op, Some(v))?;
                        } else {
                            set(resource, &key, None, *op, v);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Operation {
    fn parse(operation: &Value) -> Result<Self, ScimError> {
        let o = operation
            .as_object()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation must be an object"))?;
        let op = match get_ci(o, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            other => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("unknown op {other:?}; use add, replace or remove"),
                ))
            }
        };
        let value = get_ci(o, "value").cloned();
        let path = get_ci(o, "path")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        match (path, value) {
            (Some(path), value) => Ok(Operation::AtPath { op, path, value }),
            (None, _) if op == Op::Remove => Err(ScimError::bad("noTarget", "remove needs a path")),
            (None, Some(Value::Object(values))) => Ok(Operation::Values { op, values }),
            (None, _) => Err(ScimError::bad(
                "invalidSyntax",
                "an operation without a path needs an object value",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply_patch(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
        PatchOps::parse(body)?.apply(resource)
    }

    fn patched(resource: Value, ops: Value) -> Value {
        let mut r = resource;
        apply_patch(
            &mut r,
            &json!({ "schemas": [schema::PATCH_OP], "Operations": ops }),
        )
        .unwrap();
        r
    }

    fn user() -> Value {
        json!({
            "userName": "ada@example.com", "active": true,
            "emails": [{"type": "work", "value": "ada@example.com", "primary": true}, {"type": "home", "value": "ada@home.example"}],
            "name": {"givenName": "Ada", "familyName": "Lovelace"}
        })
    }

    #[test]
    fn entra_forms() {
        // Capitalised op, one attribute per op, filtered path on an existing element.
        let r = patched(
            user(),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}]),
        );
        assert_eq!(r["emails"][0]["value"], "ada@new.example");
        assert_eq!(
            r["emails"][1]["value"], "ada@home.example",
            "other emails kept"
        );
        // Filtered path that matches nothing creates the element.
        let r = patched(
            user(),
            json!([{"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"}]),
        );
        assert_eq!(
            r["addresses"],
            json!([{"type": "work", "postalCode": "12345"}])
        );
        // Disable with a string boolean (normalised later), and Add seen too.
        let r = patched(
            user(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(r["active"], "False");
        // Enterprise extension by URN path.
        let r = patched(
            user(),
            json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"}]),
        );
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            "42"
        );
        // aadOptscim062020: lowercase ops, no path, dotted and URN keys in one op.
        let r = patched(
            user(),
            json!([{"op": "replace", "value": {"name.givenName": "Augusta", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D", "active": false}}]),
        );
        assert_eq!(r["name"]["givenName"], "Augusta");
        assert_eq!(r["name"]["familyName"], "Lovelace");
        assert_eq!(r["active"], false);
        assert_eq!(
            r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "R&D"
        );
    }

    #[test]
    fn okta_forms_and_members() {
        let r = patched(
            user(),
            json!([{"op": "replace", "value": {"active": false}}]),
        );
        assert_eq!(r["active"], false);
        let group = json!({"displayName": "Eng", "members": [{"value": "a"}, {"value": "b"}]});
        let r = patched(
            group.clone(),
            json!([{"op": "remove", "path": "members[value eq \"a\"]"}, {"op": "add", "path": "members", "value": [{"value": "c"}]}]),
        );
        assert_eq!(r["members"], json!([{"value": "b"}, {"value": "c"}]));
        let r = patched(
            group.clone(),
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "b"}]}]),
        );
        assert_eq!(r["members"], json!([{"value": "a"}]));
        let r = patched(
            group,
            json!([{"op": "replace", "path": "members", "value": [{"value": "z"}]}]),
        );
        assert_eq!(r["members"], json!([{"value": "z"}]));
    }

    #[test]
    fn the_password_is_what_the_last_operation_naming_it_says() {
        let password = |ops: Value| {
            PatchOps::parse(&json!({ "Operations": ops }))
                .unwrap()
                .password()
                .map(str::to_string)
        };
        assert_eq!(
            password(json!([{"op": "replace", "value": {"password": "a", "active": true}}])),
            Some("a".into())
        );
        assert_eq!(
            password(
                json!([{"op": "replace", "path": "password", "value": "a"}, {"op": "replace", "value": {"active": false}}])
            ),
            Some("a".into())
        );
        assert_eq!(
            password(
                json!([{"op": "add", "path": "password", "value": "a"}, {"op": "remove", "path": "password"}])
            ),
            None
        );
        assert_eq!(
            password(json!([{"op": "replace", "path": "active", "value": false}])),
            None
        );
    }

    #[test]
    fn refusals() {
        let mut r = user();
        for (ops, scim_type) in [
            (
                json!([{"op": "frobnicate", "path": "active", "value": true}]),
                "invalidSyntax",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
                "invalidPath",
            ),
            (json!([{"op": "add", "path": "userName"}]), "invalidSyntax"),
            (
                json!([{"op": "add", "value": "not an object"}]),
                "invalidSyntax",
            ),
        ] {
            let err = apply_patch(&mut r, &json!({"Operations": ops})).unwrap_err();
            assert_eq!(err.scim_type, Some(scim_type), "{ops}");
        }
        assert!(apply_patch(&mut r, &json!({"nope": []})).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Leaf JSON values, then nested arrays/objects of them.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i32>().prop_map(|n| json!(n)),
                "[a-zA-Z0-9@. ]{0,8}".prop_map(Value::String),
                Just(json!("False")),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        "(value|type|primary|givenName|display|[a-z]{1,4})",
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// Paths built from the pieces real clients use, glued at random.
        fn path() -> impl Strategy<Value = String> {
            let pieces = prop::sample::select(vec![
                "emails",
                "members",
                "name",
                ".",
                "givenName",
                "[",
                "]",
                "type",
                " eq ",
                "\"work\"",
                "value",
                " and ",
                "active",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                ":",
                "manager",
                "id",
                "meta",
                "$ref",
                " pr",
                "(",
                ")",
            ]);
            prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat())
        }

        proptest! {
            /// Any sequence of operations either applies or is refused with
            /// a SCIM error; it never panics and the resource stays an object.
            #[test]
            fn patch_never_panics(
                ops in prop::collection::vec(
                    (prop::sample::select(vec!["add", "Replace", "remove", "bogus"]), prop::option::of(path()), prop::option::of(json_value())),
                    0..5,
                )
            ) {
                let operations: Vec<Value> = ops
                    .into_iter()
                    .map(|(op, path, value)| {
                        let mut o = json!({ "op": op });
                        if let Some(p) = path { o["path"] = json!(p); }
                        if let Some(v) = value { o["value"] = v; }
                        o
                    })
                    .collect();
                let mut resource = user();
                let _ = apply_patch(&mut resource, &json!({ "Operations": operations }));
                prop_assert!(resource.is_object());
            }
        }
    }
}
