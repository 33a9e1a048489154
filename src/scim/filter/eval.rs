//! Evaluation of a filter against a resource in its JSON form.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{is_core_schema, AttrPath, CompareOp, Filter, FilterError};
use super::parse::check_operand;
use crate::scim::schema::get_ci;

/// Evaluates a filter against a SCIM resource in its JSON representation (what GET returns), with
/// `case_exact(attr_path) -> bool` telling which attributes compare case-sensitively
/// (userName, displayName, emails.value etc. are caseExact=false in RFC 7643; id, externalId are caseExact=true).
///
/// Semantics:
/// * attribute names match JSON keys case-insensitively; a schema-URN-qualified
///   path looks under the resource's key for that URN (extensions), a core
///   schema URN (`urn:ietf:params:scim:schemas:core:2.0:…`) means top level;
/// * multi-valued attributes (arrays) match when any value matches; a complex
///   value compared without a sub-attribute uses its `value` sub-attribute;
/// * `ne` is `not eq`: a missing attribute is `ne` anything except `null`;
///   `eq null` matches a missing or null attribute; a missing attribute never
///   matches other operators;
/// * `pr`: present and not null, `""`, `[]` or `{}` (nor only such values);
/// * strings honour `case_exact`; two RFC 3339 date-times compare
///   chronologically; numbers numerically; values of different JSON types never
///   match (e.g. `active eq "true"` is false);
/// * ordering or `co`/`sw`/`ew` against a boolean attribute, and operands the
///   parser would reject, are errors (position 0);
/// * inside `emails[…]`, paths are relative to each value, and `case_exact`
///   is asked about `emails.<inner attribute>`; a primitive value acts as
///   `{"value": <it>}`.
///
/// Both sides of `and`/`or` are always evaluated, so an invalid comparison is
/// reported regardless of the other side's outcome.
pub fn matches(
    filter: &Filter,
    resource: &Value,
    case_exact: &dyn Fn(&AttrPath) -> bool,
) -> Result<bool, FilterError> {
    Evaluator { case_exact }.eval(filter, resource, None)
}

struct Evaluator<'f> {
    case_exact: &'f dyn Fn(&AttrPath) -> bool,
}

impl Evaluator<'_> {
    fn eval(
        &self,
        filter: &Filter,
        resource: &Value,
        parent: Option<&AttrPath>,
    ) -> Result<bool, FilterError> {
        match filter {
            Filter::And(..) | Filter::Or(..) => {
                let is_and = matches!(filter, Filter::And(..));
                let (first, rights) = filter.chain();
                let mut result = self.eval(first, resource, parent)?;
                for right in rights.iter().rev() {
                    let value = self.eval(right, resource, parent)?;
                    result = if is_and {
                        result && value
                    } else {
                        result || value
                    };
                }
                Ok(result)
            }
            Filter::Not(inner) => Ok(!self.eval(inner, resource, parent)?),
            Filter::Present(path) => Ok(resolve(resource, path).into_iter().any(is_present)),
            Filter::Compare(path, op, operand) => {
                self.eval_compare(path, *op, operand, resource, parent)
            }
            Filter::ValuePath(path, inner) => self.eval_value_path(path, inner, resource),
        }
    }

    fn eval_compare(
        &self,
        path: &AttrPath,
        op: CompareOp,
        operand: &Value,
        resource: &Value,
        parent: Option<&AttrPath>,
    ) -> Result<bool, FilterError> {
        check_operand(op, operand).map_err(|msg| FilterError::new(0, msg))?;
        let effective = effective_path(parent, path);
        let exact = (self.case_exact)(&effective);
        let candidates = candidates(resolve(resource, path));
        let base_op = if op == CompareOp::Ne {
            CompareOp::Eq
        } else {
            op
        };
        let mut any = base_op == CompareOp::Eq && operand.is_null() && candidates.is_empty();
        for candidate in candidates {
            if compare(base_op, candidate, operand, exact, &effective)? {
                any = true;
            }
        }
        Ok(if op == CompareOp::Ne { !any } else { any })
    }

    fn eval_value_path(
        &self,
        path: &AttrPath,
        inner: &Filter,
        resource: &Value,
    ) -> Result<bool, FilterError> {
        let mut any = false;
        for value in resolve(resource, path) {
            let elements: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for element in elements {
                let hit = match element {
                    Value::Object(_) => self.eval(inner, element, Some(path))?,
                    Value::Null => false,
                    primitive => {
                        let wrapped = serde_json::json!({ "value": primitive });
                        self.eval(inner, &wrapped, Some(path))?
                    }
                };
                any |= hit;
            }
        }
        Ok(any)
    }
}

/// The path `case_exact` is asked about: inside `emails[…]`, `value` is `emails.value`.
fn effective_path<'p>(parent: Option<&AttrPath>, path: &'p AttrPath) -> Cow<'p, AttrPath> {
    match parent {
        Some(parent) if path.schema.is_none() && path.sub_attr.is_none() => Cow::Owned(AttrPath {
            schema: parent.schema.clone(),
            attr: parent.attr.clone(),
            sub_attr: Some(path.attr.clone()),
        }),
        _ => Cow::Borrowed(path),
    }
}

/// A key of a JSON object, exact match first, then ASCII case-insensitively.
fn lookup<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    get_ci(value.as_object()?, key)
}

/// The raw values an attribute path designates in `resource` (empty if missing).
fn resolve<'v>(resource: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let base = match &path.schema {
        None => Some(resource),
        Some(schema) => match lookup(resource, schema) {
            Some(ext @ Value::Object(_)) => Some(ext),
            _ if is_core_schema(schema) => Some(resource),
            _ => None,
        },
    };
    let Some(value) = base.and_then(|b| lookup(b, &path.attr)) else {
        return Vec::new();
    };
    match &path.sub_attr {
        None => vec![value],
        Some(sub) => match value {
            Value::Array(items) => items.iter().filter_map(|item| lookup(item, sub)).collect(),
            Value::Object(_) => lookup(value, sub).into_iter().collect(),
            _ => Vec::new(),
        },
    }
}

/// Flattens raw values into the scalars a comparison looks at: array
/// elements, and complex values' `value` sub-attribute.
fn candidates(raw: Vec<&Value>) -> Vec<&Value> {
    fn push<'v>(out: &mut Vec<&'v Value>, value: &'v Value) {
        match value {
            Value::Object(_) => out.push(lookup(value, "value").unwrap_or(value)),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    for value in raw {
        match value {
            Value::Array(items) => items.iter().for_each(|item| push(&mut out, item)),
            other => push(&mut out, other),
        }
    }
    out
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(fields) => fields.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Compares one attribute value with the operand (`op` is never `Ne`).
fn compare(
    op: CompareOp,
    value: &Value,
    operand: &Value,
    exact: bool,
    path: &AttrPath,
) -> Result<bool, FilterError> {
    match (value, operand) {
        (Value::Bool(_), _) if op.is_ordering() || op.is_substring() => Err(FilterError::new(
            0,
            format!("`{op}` cannot be applied to the boolean attribute `{path}`"),
        )),
        (Value::Bool(a), Value::Bool(b)) => Ok(op == CompareOp::Eq && a == b),
        (Value::Null, Value::Null) => Ok(op == CompareOp::Eq),
        (Value::Number(a), Value::Number(b)) => {
            Ok(compare_numbers(a, b).is_some_and(|ordering| op.accepts(ordering)))
        }
        (Value::String(a), Value::String(b)) => Ok(compare_strings(op, a, b, exact)),
        _ => Ok(false),
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn parse_date_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    // Cheap pre-check: RFC 3339 starts with four digits and a dash.
    let b = s.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

fn compare_strings(op: CompareOp, value: &str, operand: &str, exact: bool) -> bool {
    if op == CompareOp::Eq || op.is_ordering() {
        if let (Some(a), Some(b)) = (parse_date_time(value), parse_date_time(operand)) {
            return op.accepts(a.cmp(&b));
        }
    }
    let fold = |s: &str| -> String {
        if exact {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let (a, b) = (fold(value), fold(operand));
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => op.accepts(a.cmp(&b)),
    }
}
