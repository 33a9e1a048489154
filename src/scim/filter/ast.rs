//! The filter and path syntax trees, their canonical rendering, and errors.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use crate::scim::schema::CORE_PREFIX;

/// A parsed attribute path: optional schema URN, attribute name, optional sub-attribute.
/// e.g. `userName`, `name.givenName`, `emails.value`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`,
/// `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName` (core URN prefix allowed too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// An unqualified attribute without sub-attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath {
            schema: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }

    /// An unqualified `attr.subAttr` path.
    pub fn with_sub(attr: impl Into<String>, sub_attr: impl Into<String>) -> Self {
        AttrPath {
            schema: None,
            attr: attr.into(),
            sub_attr: Some(sub_attr.into()),
        }
    }

    /// Whether the schema is absent or a core schema URN
    /// (`urn:ietf:params:scim:schemas:core:2.0:…`), i.e. the attribute is top-level.
    pub fn is_core(&self) -> bool {
        self.schema.as_deref().is_none_or(is_core_schema)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator (RFC 7644 §3.4.2.2, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// The canonical (lower-case) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    pub(super) fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    pub(super) fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    pub(super) fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }

    /// Whether `ordering` (attribute value compared to the operand) satisfies an
    /// `eq` or ordering operator.
    pub(super) fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    /// value: string, number, true/false, null
    Compare(AttrPath, CompareOp, Value),
    /// `emails[type eq "work" and value co "@x"]`; attribute paths in the inner
    /// filter are relative to each value of the attribute.
    ValuePath(AttrPath, Box<Filter>),
}

impl Filter {
    /// Renders with the fewest parentheses that keep the tree shape.
    /// `level`: 0 = top level or left of `or`; 1 = right of `or` or left of
    /// `and`; 2 = right of `and`. (`and`/`or` chains parse left-associatively.)
    fn render(&self, f: &mut fmt::Formatter<'_>, level: u8) -> fmt::Result {
        match self {
            Filter::Or(..) | Filter::And(..) => {
                let is_and = matches!(self, Filter::And(..));
                let (keyword, left_level, right_level) = if is_and {
                    (" and ", 1, 2)
                } else {
                    (" or ", 0, 1)
                };
                let parens = level > left_level;
                if parens {
                    f.write_str("(")?;
                }
                let (first, rights) = self.chain();
                first.render(f, left_level)?;
                for right in rights.iter().rev() {
                    f.write_str(keyword)?;
                    right.render(f, right_level)?;
                }
                if parens {
                    f.write_str(")")?;
                }
                Ok(())
            }
            Filter::Not(inner) => {
                f.write_str("not (")?;
                inner.render(f, 0)?;
                f.write_str(")")
            }
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Compare(path, op, value) => write!(f, "{path} {op} {value}"),
            Filter::ValuePath(path, inner) => {
                write!(f, "{path}[")?;
                inner.render(f, 0)?;
                f.write_str("]")
            }
        }
    }
}

impl Filter {
    /// Walks the left spine of a chain of the same operator (`a and b and c`
    /// parses as `And(And(a, b), c)`) without recursion: returns the leftmost
    /// operand and the right operands, last first. Long chains would otherwise
    /// recurse once per clause.
    pub(super) fn chain(&self) -> (&Filter, Vec<&Filter>) {
        let is_and = matches!(self, Filter::And(..));
        let mut rights = Vec::new();
        let mut node = self;
        loop {
            match node {
                Filter::And(l, r) if is_and => {
                    rights.push(&**r);
                    node = l;
                }
                Filter::Or(l, r) if !is_and => {
                    rights.push(&**r);
                    node = l;
                }
                _ => return (node, rights),
            }
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, 0)
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): attrPath, or valuePath with optional sub-attribute:
/// `members[value eq "2819c223"]`, `emails[type eq "work"].value`, `addresses[type eq "work"].postalCode`,
/// plus URN-qualified forms like `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`.
///
/// `name.givenName` is `attr = name.givenName` (sub-attribute inside `attr`), no filter;
/// `emails[type eq "work"].value` is `attr = emails`, a filter and `sub_attr = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub_attr: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A filter or path that cannot be parsed, or a filter that cannot be applied
/// (maps to SCIM `scimType` `invalidFilter` / `invalidPath`).
///
/// `position` is the 0-based byte offset of the problem in the input; parse
/// errors also state it in `message`. Evaluation errors have position 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub message: String,
    pub position: usize,
}

impl FilterError {
    pub(super) fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            position,
        }
    }
}

pub(super) fn is_core_schema(schema: &str) -> bool {
    let prefix = CORE_PREFIX.as_bytes();
    schema.len() > prefix.len() && schema.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix)
}
