//! SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2, §3.5.2).
//!
//! * [`parse_filter`] parses the `filter` query parameter (and the body of
//!   `POST /.search`) into a [`Filter`].
//! * [`parse_path`] parses the `path` of a PATCH operation into a [`PatchPath`].
//! * [`matches`] evaluates a [`Filter`] against a resource in its JSON form.
//! * `Display` on [`Filter`], [`AttrPath`] and [`PatchPath`] renders canonical
//!   syntax that parses back to the same value.
//!
//! The parser is a hand-written recursive descent over the input bytes: no
//! maintained crate implements the SCIM filter grammar, and a hand-written
//! parser gives the precise, positioned error messages that SCIM clients see
//! as `scimType: invalidFilter` / `invalidPath` details.
//!
//! Grammar notes and leniencies (real Okta / Entra ID traffic):
//! * keywords (`and`, `or`, `not`, operators, `true`/`false`/`null`) and
//!   attribute names are case-insensitive; names are kept as written;
//! * any ASCII whitespace separates tokens, and a space is not required where
//!   the next token cannot be confused (`userName eq"x"`);
//! * `not` must be followed by a parenthesised filter (`not (a pr)`);
//! * a value filter (`emails[...]`) cannot contain another one, and in a
//!   filter (unlike a PATCH path) cannot be followed by `.subAttr`;
//! * error positions are 0-based byte offsets into the input and are part of
//!   the message (`... at 9`).
//!
//! Evaluation semantics (see [`matches`]): attribute names match JSON keys
//! case-insensitively; a multi-valued attribute matches when any value does;
//! `ne` is the negation of `eq` (so a missing attribute is `ne` anything but
//! `null`); date-time strings (RFC 3339) compare chronologically.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Deepest nesting of parentheses / value filters that [`parse_filter`] accepts.
pub const MAX_NESTING: usize = 64;
/// Most attribute expressions (comparisons, `pr`, value paths) in one filter.
/// Bounds the depth of `and`/`or` chains, which the evaluator walks recursively.
pub const MAX_CLAUSES: usize = 1000;

const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";
const OPERATOR_LIST: &str = "eq, ne, co, sw, ew, gt, ge, lt, le or pr";

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

    fn from_keyword(word: &str) -> Option<Self> {
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

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }

    /// Whether `ordering` (attribute value compared to the operand) satisfies an
    /// `eq` or ordering operator.
    fn accepts(self, ordering: Ordering) -> bool {
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
    fn chain(&self) -> (&Filter, Vec<&Filter>) {
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

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
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

impl std::str::FromStr for PatchPath {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_path(s)
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
    fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError {
            message: message.into(),
            position,
        }
    }
}

/// Parses a SCIM filter expression (RFC 7644 §3.4.2.2).
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input);
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError::new(0, "the filter is empty"));
    }
    let filter = p.parse_or()?;
    p.skip_ws();
    match p.peek() {
        None => Ok(filter),
        Some(b')') => Err(FilterError::new(
            p.pos,
            format!("unexpected `)` at {} without a matching `(`", p.pos),
        )),
        Some(b']') => Err(FilterError::new(
            p.pos,
            format!("unexpected `]` at {} without a matching `[`", p.pos),
        )),
        Some(_) => Err(FilterError::new(
            p.pos,
            format!(
                "unexpected {} at {}; expected `and`, `or` or the end of the filter",
                p.describe(p.pos),
                p.pos
            ),
        )),
    }
}

/// Parses a PATCH operation `path` (RFC 7644 §3.5.2).
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input);
    p.skip_ws();
    if p.at_end() {
        return Err(FilterError::new(0, "the path is empty"));
    }
    let start = p.pos;
    let attr = p.parse_attr_path()?;
    let mut filter = None;
    let mut sub_attr = None;
    if p.peek() == Some(b'[') {
        filter = Some(p.parse_value_filter(&attr, start)?);
        if p.peek() == Some(b'.') {
            let dot = p.pos;
            p.pos += 1;
            let name_start = p.pos;
            let name = p.scan(name_start, |b| is_name_byte(b) || b == b'$');
            if name.is_empty() {
                return Err(FilterError::new(
                    name_start,
                    format!(
                        "expected a sub-attribute name after the `.` at {dot}, found {}",
                        p.describe(name_start)
                    ),
                ));
            }
            validate_name(name, name_start)?;
            p.pos += name.len();
            sub_attr = Some(name.to_string());
        }
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(FilterError::new(
            p.pos,
            format!(
                "unexpected {} at {}; expected the end of the path",
                p.describe(p.pos),
                p.pos
            ),
        ));
    }
    Ok(PatchPath {
        attr,
        filter,
        sub_attr,
    })
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_path_byte(b: u8) -> bool {
    is_name_byte(b) || matches!(b, b'.' | b':' | b'$')
}

fn is_core_schema(schema: &str) -> bool {
    let prefix = CORE_SCHEMA_PREFIX.as_bytes();
    schema.len() > prefix.len() && schema.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A character for an error message, escaped only if it would not be visible.
fn show_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        c.escape_debug().to_string()
    } else {
        c.to_string()
    }
}

/// Checks an attribute or sub-attribute name: `ALPHA *(nameChar)` or `$ref`.
fn validate_name(name: &str, pos: usize) -> Result<(), FilterError> {
    if name.eq_ignore_ascii_case("$ref") {
        return Ok(());
    }
    let Some(&first) = name.as_bytes().first() else {
        return Err(FilterError::new(
            pos,
            format!("expected an attribute name at {pos}"),
        ));
    };
    if !first.is_ascii_alphabetic() {
        return Err(FilterError::new(
            pos,
            format!("invalid attribute name `{name}` at {pos}: names start with a letter"),
        ));
    }
    if let Some(i) = name.bytes().position(|b| !is_name_byte(b)) {
        return Err(FilterError::new(
            pos + i,
            format!(
                "invalid character `{}` in attribute name `{name}` at {}",
                &name[i..i + 1],
                pos + i
            ),
        ));
    }
    Ok(())
}

/// Splits an attribute-path token (`[urn:…:]attr[.sub]`) that starts at byte
/// `base` of the input.
fn build_attr_path(token: &str, base: usize) -> Result<AttrPath, FilterError> {
    let (schema, rest, rest_off) = match token.rfind(':') {
        Some(colon) => {
            let schema = &token[..colon];
            let is_urn = token.len() >= 4 && token.as_bytes()[..4].eq_ignore_ascii_case(b"urn:");
            if !is_urn || schema.len() <= 4 {
                return Err(FilterError::new(
                    base,
                    format!(
                        "invalid attribute path `{token}` at {base}: a `:` is only allowed in a \
                         schema URN prefix (`urn:…:attribute`)"
                    ),
                ));
            }
            if let Some(i) = schema.find('$') {
                return Err(FilterError::new(
                    base + i,
                    format!(
                        "invalid character `$` in schema URN `{schema}` at {}",
                        base + i
                    ),
                ));
            }
            (Some(schema), &token[colon + 1..], colon + 1)
        }
        None => (None, token, 0),
    };
    if rest.is_empty() {
        let pos = base + rest_off;
        return Err(FilterError::new(
            pos,
            format!(
                "expected an attribute name after the schema URN `{}` at {pos}",
                schema.unwrap_or_default()
            ),
        ));
    }
    let mut parts = rest.splitn(3, '.');
    let attr = parts.next().unwrap_or_default();
    validate_name(attr, base + rest_off)?;
    let sub_attr = match parts.next() {
        None => None,
        Some(sub) => {
            let pos = base + rest_off + attr.len() + 1;
            if sub.is_empty() {
                return Err(FilterError::new(
                    pos,
                    format!("expected a sub-attribute name after `{attr}.` at {pos}"),
                ));
            }
            validate_name(sub, pos)?;
            Some(sub)
        }
    };
    if parts.next().is_some() {
        let pos = base + rest_off + attr.len() + 1 + sub_attr.map_or(0, str::len);
        return Err(FilterError::new(
            pos,
            format!(
                "attribute path `{token}` has more than one sub-attribute (second `.` at {pos})"
            ),
        ));
    }
    Ok(AttrPath {
        schema: schema.map(str::to_string),
        attr: attr.to_string(),
        sub_attr: sub_attr.map(str::to_string),
    })
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    clauses: usize,
    in_value_path: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            depth: 0,
            clauses: 0,
            in_value_path: false,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// The longest run of bytes from `start` satisfying `pred` (ASCII only,
    /// so the slice is always on char boundaries).
    fn scan(&self, start: usize, pred: impl Fn(u8) -> bool) -> &'a str {
        let src: &'a str = self.src;
        let mut end = start;
        while end < self.bytes.len() && pred(self.bytes[end]) && self.bytes[end].is_ascii() {
            end += 1;
        }
        &src[start..end]
    }

    /// A keyword-like word (`and`, `eq`, `true`, …) at `start`.
    fn word_at(&self, start: usize) -> &'a str {
        self.scan(start, is_name_byte)
    }

    /// Describes what is at `pos` for an error message.
    fn describe(&self, pos: usize) -> String {
        if pos >= self.bytes.len() {
            return "the end of the input".to_string();
        }
        let word = self.scan(pos, is_path_byte);
        if !word.is_empty() {
            if word.len() > 40 {
                let cut = &word[..40];
                return format!("`{cut}…`");
            }
            return format!("`{word}`");
        }
        let c = self.src[pos..].chars().next().unwrap_or('?');
        format!("`{}`", show_char(c))
    }

    /// Consumes `keyword` (case-insensitive, whole word) at the current position.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let word = self.word_at(self.pos);
        if word.eq_ignore_ascii_case(keyword) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self, open: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterError::new(
                open,
                format!(
                    "filter nests too deeply (more than {MAX_NESTING} levels of parentheses or \
                     brackets) at {open}"
                ),
            ));
        }
        Ok(())
    }

    /// orExpr := andExpr *("or" andExpr)
    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        self.parse_chain("or", Self::parse_and, Filter::Or)
    }

    /// andExpr := unary *("and" unary)
    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        self.parse_chain("and", Self::parse_unary, Filter::And)
    }

    /// `operand *(keyword operand)`, folded to the left with `join`.
    fn parse_chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Filter, FilterError>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> Result<Filter, FilterError> {
        let mut left = operand(self)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let kw_pos = self.pos;
            if !self.eat_keyword(keyword) {
                self.pos = save;
                return Ok(left);
            }
            self.expect_operand(keyword, kw_pos)?;
            let right = operand(self)?;
            left = join(Box::new(left), Box::new(right));
        }
    }

    fn expect_operand(&mut self, keyword: &str, kw_pos: usize) -> Result<(), FilterError> {
        self.skip_ws();
        if self.at_end() {
            return Err(FilterError::new(
                self.pos,
                format!(
                    "expected a filter expression after `{keyword}` at {kw_pos}, found the end \
                     of the input at {}",
                    self.pos
                ),
            ));
        }
        Ok(())
    }

    /// unary := "not" "(" orExpr ")" / "(" orExpr ")" / attrExpr
    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => Err(FilterError::new(
                start,
                format!(
                    "expected an attribute name, `(` or `not` at {start}, found the end of the \
                     input"
                ),
            )),
            Some(b'(') => self.parse_group(),
            Some(b) if !is_path_byte(b) => Err(FilterError::new(
                start,
                format!(
                    "expected an attribute name, `(` or `not` at {start}, found {}",
                    self.describe(start)
                ),
            )),
            Some(_) => {
                let word = self.word_at(start);
                let after = start + word.len();
                // `not.x` / `not:…` would be an attribute path, not the operator.
                let is_path = matches!(self.bytes.get(after), Some(b'.' | b':' | b'$'));
                if word.eq_ignore_ascii_case("not") && !is_path {
                    self.pos = after;
                    self.skip_ws();
                    if self.peek() != Some(b'(') {
                        return Err(FilterError::new(
                            self.pos,
                            format!(
                                "expected `(` after `not` at {}, found {}; write `not (…)`",
                                self.pos,
                                self.describe(self.pos)
                            ),
                        ));
                    }
                    let inner = self.parse_group()?;
                    return Ok(Filter::Not(Box::new(inner)));
                }
                self.parse_attr_expr()
            }
        }
    }

    /// "(" orExpr ")" — the current byte is `(`.
    fn parse_group(&mut self) -> Result<Filter, FilterError> {
        let open = self.pos;
        self.pos += 1;
        self.enter(open)?;
        self.skip_ws();
        if self.peek() == Some(b')') {
            return Err(FilterError::new(
                self.pos,
                format!("empty parentheses at {open}; expected a filter expression"),
            ));
        }
        if self.at_end() {
            return Err(FilterError::new(
                self.pos,
                format!(
                    "missing `)` for the `(` at {open}: the input ends at {}",
                    self.pos
                ),
            ));
        }
        let inner = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => self.pos += 1,
            None => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "missing `)` for the `(` at {open}: the input ends at {}",
                        self.pos
                    ),
                ))
            }
            Some(_) => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "unexpected {} at {}; expected `and`, `or` or the `)` closing the `(` at \
                         {open}",
                        self.describe(self.pos),
                        self.pos
                    ),
                ))
            }
        }
        self.depth -= 1;
        Ok(inner)
    }

    /// attrPath, starting at the current position.
    fn parse_attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.pos;
        let token = self.scan(start, is_path_byte);
        if token.is_empty() {
            return Err(FilterError::new(
                start,
                format!(
                    "expected an attribute name at {start}, found {}",
                    self.describe(start)
                ),
            ));
        }
        let path = build_attr_path(token, start)?;
        self.pos = start + token.len();
        Ok(path)
    }

    /// attrExpr := attrPath SP "pr" / attrPath SP compareOp SP compValue / valuePath
    fn parse_attr_expr(&mut self) -> Result<Filter, FilterError> {
        let start = self.pos;
        let path = self.parse_attr_path()?;
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(FilterError::new(
                start,
                format!("filter is too long: more than {MAX_CLAUSES} expressions at {start}"),
            ));
        }
        if self.peek() == Some(b'[') {
            let inner = self.parse_value_filter(&path, start)?;
            if self.peek() == Some(b'.') {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "unexpected `.` at {}: a sub-attribute after `]` is only allowed in a \
                         PATCH path, not in a filter",
                        self.pos
                    ),
                ));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let path_text = &self.src[start..self.pos];
        self.skip_ws();
        let op_pos = self.pos;
        if self.at_end() {
            return Err(FilterError::new(
                op_pos,
                format!(
                    "expected a comparison operator ({OPERATOR_LIST}) after `{path_text}` at \
                     {op_pos}, found the end of the input"
                ),
            ));
        }
        let word = self.word_at(op_pos);
        if word.is_empty() {
            return Err(FilterError::new(
                op_pos,
                format!(
                    "expected a comparison operator ({OPERATOR_LIST}) after `{path_text}` at \
                     {op_pos}, found {}",
                    self.describe(op_pos)
                ),
            ));
        }
        if word.eq_ignore_ascii_case("pr") {
            self.pos += word.len();
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(FilterError::new(
                op_pos,
                format!(
                    "unknown operator `{word}` after `{path_text}` at {op_pos}; expected \
                     {OPERATOR_LIST}"
                ),
            ));
        };
        self.pos += word.len();
        self.skip_ws();
        let value_pos = self.pos;
        if self.at_end() {
            return Err(FilterError::new(
                value_pos,
                format!("missing value after `{word}` at {value_pos}"),
            ));
        }
        let value = self.parse_value(word)?;
        check_operand(op, &value)
            .map_err(|msg| FilterError::new(value_pos, format!("{msg} (at {value_pos})")))?;
        Ok(Filter::Compare(path, op, value))
    }

    /// "[" valFilter "]" — the current byte is `[`; `path` started at `path_start`.
    fn parse_value_filter(
        &mut self,
        path: &AttrPath,
        path_start: usize,
    ) -> Result<Filter, FilterError> {
        let open = self.pos;
        if self.in_value_path {
            return Err(FilterError::new(
                open,
                format!("nested `[` at {open}: a value filter cannot contain another value filter"),
            ));
        }
        if path.sub_attr.is_some() {
            let text = &self.src[path_start..open];
            return Err(FilterError::new(
                open,
                format!(
                    "unexpected `[` at {open}: a value filter cannot follow the sub-attribute \
                     path `{text}`"
                ),
            ));
        }
        self.pos += 1;
        self.enter(open)?;
        self.in_value_path = true;
        self.skip_ws();
        match self.peek() {
            Some(b']') => {
                return Err(FilterError::new(
                    self.pos,
                    format!("empty value filter `[]` at {open}"),
                ))
            }
            None => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "missing `]` for the `[` at {open}: the input ends at {}",
                        self.pos
                    ),
                ))
            }
            Some(_) => {}
        }
        let inner = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(b']') => self.pos += 1,
            None => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "missing `]` for the `[` at {open}: the input ends at {}",
                        self.pos
                    ),
                ))
            }
            Some(b'[') => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "nested `[` at {}: a value filter cannot contain another value filter",
                        self.pos
                    ),
                ))
            }
            Some(_) => {
                return Err(FilterError::new(
                    self.pos,
                    format!(
                        "unexpected {} at {}; expected `and`, `or` or the `]` closing the `[` at \
                         {open}",
                        self.describe(self.pos),
                        self.pos
                    ),
                ))
            }
        }
        self.in_value_path = false;
        self.depth -= 1;
        Ok(inner)
    }

    /// compValue := false / null / true / number / string
    fn parse_value(&mut self, op_word: &str) -> Result<Value, FilterError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => self.parse_string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(b'\'') => Err(FilterError::new(
                start,
                format!("string values must be in double quotes (`\"…\"`), found `'` at {start}"),
            )),
            _ => {
                let word = self.word_at(start);
                let value = match word.to_ascii_lowercase().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Null),
                    _ => None,
                };
                match value {
                    Some(v) => {
                        self.pos += word.len();
                        Ok(v)
                    }
                    None => Err(FilterError::new(
                        start,
                        format!(
                            "expected a value (a double-quoted string, a number, true, false or \
                             null) after `{op_word}` at {start}, found {}",
                            self.describe(start)
                        ),
                    )),
                }
            }
        }
    }

    /// A JSON string literal; the current byte is `"`.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let unterminated =
            || FilterError::new(start, format!("unterminated string starting at {start}"));
        let mut out = String::new();
        let mut i = start + 1;
        loop {
            let seg_start = i;
            while i < self.bytes.len() && self.bytes[i] != b'"' && self.bytes[i] != b'\\' {
                i += 1;
            }
            out.push_str(&self.src[seg_start..i.min(self.bytes.len())]);
            match self.bytes.get(i) {
                None => return Err(unterminated()),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(_) => {
                    // backslash at i
                    let Some(esc) = self.src[i + 1..].chars().next() else {
                        return Err(unterminated());
                    };
                    match esc {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let (c, len) = self.parse_unicode_escape(i)?;
                            out.push(c);
                            i += len;
                            continue;
                        }
                        other => {
                            return Err(FilterError::new(
                                i,
                                format!("invalid escape `\\{}` in string at {i}", show_char(other)),
                            ))
                        }
                    }
                    i += 1 + esc.len_utf8();
                }
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.bytes.get(at..at + 4)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(&self.src[at..at + 4], 16).ok()
    }

    /// `\uXXXX` (or a `\uD8xx\uDCxx` surrogate pair) whose backslash is at
    /// `at`; returns the char and the number of bytes consumed.
    fn parse_unicode_escape(&self, at: usize) -> Result<(char, usize), FilterError> {
        let bad = || {
            FilterError::new(
                at,
                format!("invalid unicode escape at {at}: expected `\\u` and four hex digits"),
            )
        };
        let high = self.hex4(at + 2).ok_or_else(bad)?;
        match high {
            0xD800..=0xDBFF => {
                let low = if self.bytes.get(at + 6) == Some(&b'\\')
                    && self.bytes.get(at + 7) == Some(&b'u')
                {
                    self.hex4(at + 8)
                } else {
                    None
                };
                match low {
                    Some(low @ 0xDC00..=0xDFFF) => {
                        let code = 0x10000
                            + ((u32::from(high) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        let c = char::from_u32(code).ok_or_else(bad)?;
                        Ok((c, 12))
                    }
                    _ => Err(FilterError::new(
                        at,
                        format!("unpaired surrogate `\\u{high:04X}` in string at {at}"),
                    )),
                }
            }
            0xDC00..=0xDFFF => Err(FilterError::new(
                at,
                format!("unpaired surrogate `\\u{high:04X}` in string at {at}"),
            )),
            _ => Ok((char::from_u32(u32::from(high)).ok_or_else(bad)?, 6)),
        }
    }

    /// A JSON number: `-? (0 / [1-9] *DIGIT) [. 1*DIGIT] [e [+-] 1*DIGIT]`.
    fn parse_number(&mut self) -> Result<Value, FilterError> {
        let start = self.pos;
        let digits_from = |p: &Self, at: usize| p.scan(at, |b| b.is_ascii_digit()).len();
        let mut i = start;
        if self.bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_len = digits_from(self, i);
        let invalid = |p: &Self, at: usize| {
            let text = p.scan(start, |b| is_path_byte(b) || b == b'+');
            FilterError::new(
                at,
                format!("invalid number `{text}` at {start} (problem at {at})"),
            )
        };
        if int_len == 0 || (int_len > 1 && self.bytes[i] == b'0') {
            return Err(invalid(self, i));
        }
        i += int_len;
        if self.bytes.get(i) == Some(&b'.') {
            i += 1;
            let frac = digits_from(self, i);
            if frac == 0 {
                return Err(invalid(self, i));
            }
            i += frac;
        }
        if matches!(self.bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(self.bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp = digits_from(self, i);
            if exp == 0 {
                return Err(invalid(self, i));
            }
            i += exp;
        }
        if self
            .bytes
            .get(i)
            .is_some_and(|&b| is_path_byte(b) || b == b'+')
        {
            return Err(invalid(self, i));
        }
        let text = &self.src[start..i];
        // Integers stay integers (i64/u64); the rest goes through Rust's
        // correctly rounded float parser, so rendering and re-parsing is exact.
        let number = if let Ok(n) = text.parse::<i64>() {
            Some(serde_json::Number::from(n))
        } else if let Ok(n) = text.parse::<u64>() {
            Some(serde_json::Number::from(n))
        } else {
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
        };
        let number = number.ok_or_else(|| {
            FilterError::new(start, format!("number `{text}` at {start} is out of range"))
        })?;
        self.pos = i;
        Ok(Value::Number(number))
    }
}

/// Operator/operand combinations that RFC 7644 makes an `invalidFilter`.
fn check_operand(op: CompareOp, value: &Value) -> Result<(), String> {
    let kind = match value {
        Value::Bool(_) | Value::Null => value.to_string(),
        Value::Number(_) if op.is_substring() => "a number".to_string(),
        Value::Array(_) | Value::Object(_) => "a JSON array or object".to_string(),
        _ => return Ok(()),
    };
    if op.is_ordering() {
        Err(format!(
            "`{op}` cannot be used with {kind}: gt, ge, lt and le need a string, number or \
             date-time value"
        ))
    } else if op.is_substring() {
        Err(format!(
            "`{op}` cannot be used with {kind}: co, sw and ew need a string value"
        ))
    } else if matches!(value, Value::Array(_) | Value::Object(_)) {
        Err(format!("`{op}` cannot be used with {kind}"))
    } else {
        Ok(())
    }
}

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
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    // ---- compact AST constructors ----

    fn a(attr: &str) -> AttrPath {
        AttrPath::new(attr)
    }
    fn s(attr: &str, sub: &str) -> AttrPath {
        AttrPath::with_sub(attr, sub)
    }
    fn u(schema: &str, attr: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            schema: Some(schema.to_string()),
            attr: attr.to_string(),
            sub_attr: sub.map(str::to_string),
        }
    }
    fn c(path: AttrPath, op: CompareOp, v: Value) -> Filter {
        Filter::Compare(path, op, v)
    }
    fn eq(path: AttrPath, v: Value) -> Filter {
        c(path, CompareOp::Eq, v)
    }
    fn pr(path: AttrPath) -> Filter {
        Filter::Present(path)
    }
    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }
    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }
    fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }
    fn vp(path: AttrPath, f: Filter) -> Filter {
        Filter::ValuePath(path, Box::new(f))
    }

    #[test]
    fn valid_filters_parse_to_expected_ast() {
        use CompareOp::*;
        let ent_number = format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#);
        let ent_manager = format!(r#"{ENTERPRISE}:manager.value eq "26118915""#);
        let core_name = format!(r#"{CORE_USER}:name.givenName sw "Bar""#);
        let cases: Vec<(&str, Filter)> = vec![
            (
                r#"userName eq "bjensen""#,
                eq(a("userName"), json!("bjensen")),
            ),
            (r#"USERNAME EQ "x""#, eq(a("USERNAME"), json!("x"))),
            (r#"username Eq "x""#, eq(a("username"), json!("x"))),
            (
                r#"name.familyName co "O'Malley""#,
                c(s("name", "familyName"), Co, json!("O'Malley")),
            ),
            (r#"userName sw "J""#, c(a("userName"), Sw, json!("J"))),
            (r#"userName ew "son""#, c(a("userName"), Ew, json!("son"))),
            (r#"title ne "boss""#, c(a("title"), Ne, json!("boss"))),
            ("title pr", pr(a("title"))),
            ("title PR", pr(a("title"))),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                c(s("meta", "lastModified"), Gt, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                c(s("meta", "lastModified"), Ge, json!("2011-05-13T04:42:34Z")),
            ),
            ("loginCount lt 10", c(a("loginCount"), Lt, json!(10))),
            (
                "loginCount le -2.5e3",
                c(a("loginCount"), Le, json!(-2500.0)),
            ),
            ("weight gt 0.25", c(a("weight"), Gt, json!(0.25))),
            ("active eq true", eq(a("active"), json!(true))),
            ("active eq FALSE", eq(a("active"), json!(false))),
            ("title eq null", eq(a("title"), Value::Null)),
            ("title ne Null", c(a("title"), Ne, Value::Null)),
            (
                r#"displayName eq "say \"hi\" \\ bye""#,
                eq(a("displayName"), json!("say \"hi\" \\ bye")),
            ),
            (
                r#"name.givenName eq "Ren\u00e9e""#,
                eq(s("name", "givenName"), json!("Renée")),
            ),
            (
                r#"name.givenName eq "\ud83d\ude00 \n\t\/""#,
                eq(s("name", "givenName"), json!("😀 \n\t/")),
            ),
            (
                r#"name.givenName eq "Zoë 日本""#,
                eq(s("name", "givenName"), json!("Zoë 日本")),
            ),
            (r#"userName eq """#, eq(a("userName"), json!(""))),
            (
                r#"a eq 1 or b eq 2 and c eq 3"#,
                or(
                    eq(a("a"), json!(1)),
                    and(eq(a("b"), json!(2)), eq(a("c"), json!(3))),
                ),
            ),
            (
                r#"a eq 1 and b eq 2 or c eq 3"#,
                or(
                    and(eq(a("a"), json!(1)), eq(a("b"), json!(2))),
                    eq(a("c"), json!(3)),
                ),
            ),
            (
                r#"(a eq 1 or b eq 2) and c eq 3"#,
                and(
                    or(eq(a("a"), json!(1)), eq(a("b"), json!(2))),
                    eq(a("c"), json!(3)),
                ),
            ),
            (
                "a pr or b pr or c pr",
                or(or(pr(a("a")), pr(a("b"))), pr(a("c"))),
            ),
            (
                "a pr AND b pr And c pr",
                and(and(pr(a("a")), pr(a("b"))), pr(a("c"))),
            ),
            (
                r#"userType eq "Employee" and not (emails.value co "example.org")"#,
                and(
                    eq(a("userType"), json!("Employee")),
                    not(c(s("emails", "value"), Co, json!("example.org"))),
                ),
            ),
            ("NOT(a pr)", not(pr(a("a")))),
            ("not ( not (a pr) )", not(not(pr(a("a"))))),
            ("((((a pr))))", pr(a("a"))),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                vp(
                    a("emails"),
                    and(
                        eq(a("type"), json!("work")),
                        c(a("value"), Co, json!("@example.com")),
                    ),
                ),
            ),
            (
                r#"emails[type eq "work" or type eq "home"] and userName sw "b""#,
                and(
                    vp(
                        a("emails"),
                        or(eq(a("type"), json!("work")), eq(a("type"), json!("home"))),
                    ),
                    c(a("userName"), Sw, json!("b")),
                ),
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    eq(a("userType"), json!("Employee")),
                    or(
                        c(a("emails"), Co, json!("example.com")),
                        c(s("emails", "value"), Co, json!("example.org")),
                    ),
                ),
            ),
            (
                r#"emails[not (type eq "home")] or x pr"#,
                or(
                    vp(a("emails"), not(eq(a("type"), json!("home")))),
                    pr(a("x")),
                ),
            ),
            (
                &ent_number,
                eq(u(ENTERPRISE, "employeeNumber", None), json!("701984")),
            ),
            (
                &ent_manager,
                eq(u(ENTERPRISE, "manager", Some("value")), json!("26118915")),
            ),
            (
                &core_name,
                c(u(CORE_USER, "name", Some("givenName")), Sw, json!("Bar")),
            ),
            (
                r#"members.$ref eq "https://x/Users/1""#,
                eq(s("members", "$ref"), json!("https://x/Users/1")),
            ),
            (
                r#"members[value eq "2819c223"]"#,
                vp(a("members"), eq(a("value"), json!("2819c223"))),
            ),
            ("  \tx-y_z1 pr \n", pr(a("x-y_z1"))),
            (r#"userName eq"x""#, eq(a("userName"), json!("x"))),
            (
                "id eq 9223372036854775807",
                eq(a("id"), json!(9223372036854775807i64)),
            ),
            ("id eq 0", eq(a("id"), json!(0))),
        ];
        assert!(cases.len() >= 40, "{}", cases.len());
        for (input, expected) in cases {
            match parse_filter(input) {
                Ok(got) => assert_eq!(got, expected, "input: {input}"),
                Err(e) => panic!("{input}: unexpected error {e}"),
            }
        }
    }

    #[test]
    fn invalid_filters_report_what_and_where() {
        let urn_without_attr = format!(r#"{ENTERPRISE}: eq "a""#);
        let cases: &[(&str, &str)] = &[
            ("", "the filter is empty"),
            ("   ", "the filter is empty"),
            ("USERNAME", "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `USERNAME` at 8"),
            ("userName ", "expected a comparison operator"),
            (r#"userName "x""#, "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `userName` at 9, found `\"`"),
            (r#"userName equals "x""#, "unknown operator `equals` after `userName` at 9"),
            ("userName eq", "missing value after `eq` at 11"),
            ("userName eq ", "missing value after `eq` at 12"),
            (r#"userName eq "abc"#, "unterminated string starting at 12"),
            (r#"userName eq "abc\"#, "unterminated string starting at 12"),
            (r#"userName eq "x" extra"#, "unexpected `extra` at 16; expected `and`, `or` or the end of the filter"),
            (r#"(userName eq "x""#, "missing `)` for the `(` at 0"),
            (r#"userName eq "x")"#, "unexpected `)` at 15 without a matching `(`"),
            (r#"(userName eq "x" extra)"#, "expected `and`, `or` or the `)` closing the `(` at 0"),
            ("()", "empty parentheses at 0"),
            (r#"emails[type[value eq "x"] eq "y"]"#, "nested `[` at 11"),
            (r#"emails[type eq "work""#, "missing `]` for the `[` at 6"),
            ("emails[]", "empty value filter `[]` at 6"),
            (r#"emails[type eq "work"].value eq "x""#, "sub-attribute after `]` is only allowed in a PATCH path"),
            ("active gt true", "`gt` cannot be used with true"),
            ("active le null", "`le` cannot be used with null"),
            ("active co false", "`co` cannot be used with false"),
            ("loginCount sw 12", "`sw` cannot be used with a number"),
            (r#"not userName eq "x""#, "expected `(` after `not` at 4"),
            (r#"userName eq 'x'"#, "string values must be in double quotes"),
            ("userName eq bjensen", "expected a value (a double-quoted string, a number, true, false or null) after `eq` at 12, found `bjensen`"),
            (r#"userName eq "x" and"#, "expected a filter expression after `and` at 16"),
            (r#"userName eq "x" or "#, "expected a filter expression after `or` at 16"),
            (r#"and eq "x" or"#, "after `or`"),
            (r#"userName eq "\q""#, "invalid escape `\\q` in string at 13"),
            (r#"userName eq "\u12""#, "invalid unicode escape at 13"),
            (r#"userName eq "\ud83d""#, "unpaired surrogate `\\uD83D` in string at 13"),
            ("n eq 01", "invalid number `01` at 5"),
            ("n eq 1.", "invalid number `1.` at 5"),
            ("n eq -", "invalid number `-` at 5"),
            ("n eq 1e", "invalid number `1e` at 5"),
            ("n eq 12abc", "invalid number `12abc` at 5"),
            ("n eq 1e999", "number `1e999` at 5 is out of range"),
            ("1abc eq 1", "invalid attribute name `1abc` at 0: names start with a letter"),
            (r#"name.given.x eq "a""#, "more than one sub-attribute"),
            (r#"name. eq "a""#, "expected a sub-attribute name after `name.` at 5"),
            (r#"foo:bar eq "a""#, "a `:` is only allowed in a schema URN prefix"),
            (&urn_without_attr, "expected an attribute name after the schema URN"),
            (r#"= "x""#, "expected an attribute name, `(` or `not` at 0, found `=`"),
            (r#"userName eq "x" ] "#, "unexpected `]` at 16 without a matching `[`"),
            (r#"na$me eq "a""#, "invalid character `$` in attribute name `na$me` at 2"),
            (r#"name.givenName[value eq "a"]"#, "a value filter cannot follow the sub-attribute path `name.givenName`"),
        ];
        assert!(cases.len() >= 20);
        for (input, want) in cases {
            match parse_filter(input) {
                Ok(f) => panic!("{input:?} parsed as {f:?}, expected error containing {want:?}"),
                Err(e) => assert!(
                    e.message.contains(want),
                    "{input:?}: error {:?} does not contain {want:?}",
                    e.message
                ),
            }
        }
    }

    #[test]
    fn error_positions_are_byte_offsets() {
        let e = parse_filter(r#"userName equals "x""#).unwrap_err();
        assert_eq!(e.position, 9);
        let e = parse_filter("USERNAME").unwrap_err();
        assert_eq!(e.position, 8);
        assert_eq!(e.to_string(), e.message);
        let e = parse_filter(r#"userName eq "x" extra"#).unwrap_err();
        assert_eq!(e.position, 16);
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let ok = format!("{}a pr{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(parse_filter(&ok).unwrap(), pr(a("a")));
        let deep = format!(
            "{}a pr{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        let e = parse_filter(&deep).unwrap_err();
        assert!(e.message.contains("filter nests too deeply"), "{e}");
        let nots = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(parse_filter(&nots)
            .unwrap_err()
            .message
            .contains("nests too deeply"));
        let opens = "(".repeat(100_000);
        assert!(parse_filter(&opens)
            .unwrap_err()
            .message
            .contains("nests too deeply"));

        // The longest accepted chain still evaluates, displays and drops fine.
        let chain = vec!["a pr"; MAX_CLAUSES].join(" and ");
        let f = parse_filter(&chain).unwrap();
        assert!(matches(&f, &json!({"a": 1}), &|_| false).unwrap());
        assert_eq!(parse_filter(&f.to_string()).unwrap(), f);
        let too_long = vec!["a pr"; MAX_CLAUSES + 1].join(" or ");
        assert!(parse_filter(&too_long)
            .unwrap_err()
            .message
            .contains("too long"));
    }

    #[test]
    fn patch_paths() {
        let ok: Vec<(String, PatchPath)> = vec![
            (
                r#"members[value eq "abc"]"#.into(),
                PatchPath {
                    attr: a("members"),
                    filter: Some(eq(a("value"), json!("abc"))),
                    sub_attr: None,
                },
            ),
            (
                r#"emails[type eq "work"].value"#.into(),
                PatchPath {
                    attr: a("emails"),
                    filter: Some(eq(a("type"), json!("work"))),
                    sub_attr: Some("value".into()),
                },
            ),
            (
                r#"addresses[type eq "work"].postalCode"#.into(),
                PatchPath {
                    attr: a("addresses"),
                    filter: Some(eq(a("type"), json!("work"))),
                    sub_attr: Some("postalCode".into()),
                },
            ),
            (
                r#"emails[type eq "work" and primary eq true]"#.into(),
                PatchPath {
                    attr: a("emails"),
                    filter: Some(and(
                        eq(a("type"), json!("work")),
                        eq(a("primary"), json!(true)),
                    )),
                    sub_attr: None,
                },
            ),
            (
                "name.givenName".into(),
                PatchPath {
                    attr: s("name", "givenName"),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                format!("{ENTERPRISE}:manager"),
                PatchPath {
                    attr: u(ENTERPRISE, "manager", None),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                format!("{ENTERPRISE}:manager.value"),
                PatchPath {
                    attr: u(ENTERPRISE, "manager", Some("value")),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                format!("{CORE_USER}:emails[type eq \"work\"].value"),
                PatchPath {
                    attr: u(CORE_USER, "emails", None),
                    filter: Some(eq(a("type"), json!("work"))),
                    sub_attr: Some("value".into()),
                },
            ),
            (
                "active".into(),
                PatchPath {
                    attr: a("active"),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                " Active ".into(),
                PatchPath {
                    attr: a("Active"),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                "members.$ref".into(),
                PatchPath {
                    attr: s("members", "$ref"),
                    filter: None,
                    sub_attr: None,
                },
            ),
        ];
        for (input, expected) in ok {
            let got = parse_path(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, expected, "{input}");
            assert_eq!(
                parse_path(&got.to_string()).unwrap(),
                got,
                "round trip of {input}"
            );
        }

        let bad: &[(&str, &str)] = &[
            ("", "the path is empty"),
            ("emails[", "missing `]` for the `[` at 6"),
            (r#"emails[type eq "work""#, "missing `]` for the `[` at 6"),
            (
                r#"emails[type eq "work"]."#,
                "expected a sub-attribute name after the `.` at 22",
            ),
            (
                r#"emails[type eq "work"].value.x"#,
                "unexpected `.x` at 28; expected the end of the path",
            ),
            (r#"emails[type eq "work"]x"#, "unexpected `x` at 22"),
            (r#"emails[type[value eq "a"] eq "b"]"#, "nested `[`"),
            ("name.givenName.x", "more than one sub-attribute"),
            (
                "emails eq",
                "unexpected `eq` at 7; expected the end of the path",
            ),
            (r#"emails[type eq]"#, "expected a value"),
            ("[x]", "expected an attribute name at 0, found `[`"),
            (
                r#"emails[type eq "work"].1x"#,
                "invalid attribute name `1x` at 23",
            ),
        ];
        for (input, want) in bad {
            match parse_path(input) {
                Ok(p) => panic!("{input:?} parsed as {p:?}"),
                Err(e) => assert!(
                    e.message.contains(want),
                    "{input:?}: {:?} lacks {want:?}",
                    e.message
                ),
            }
        }
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen-EXT",
            "userName": "BJensen@Example.com",
            "displayName": "Barbara Jensen",
            "nickName": "",
            "title": null,
            "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [],
            "roles": [""],
            "groups": [{"value": "g1", "display": "Admins"}],
            "entitlements": ["read", "Write"],
            "active": true,
            "loginCount": 42,
            "score": 2.5,
            ENTERPRISE: {
                "employeeNumber": "701984",
                "costCenter": "4130",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff590\""
            }
        })
    }

    fn rfc_case_exact(path: &AttrPath) -> bool {
        (matches!(path.attr.to_ascii_lowercase().as_str(), "id" | "externalid")
            && path.sub_attr.is_none())
            || (path.attr.eq_ignore_ascii_case("meta")
                && path.sub_attr.as_deref() == Some("version"))
    }

    fn eval(filter: &str) -> Result<bool, FilterError> {
        let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        matches(&f, &user(), &rfc_case_exact)
    }

    #[test]
    fn evaluation_against_a_user() {
        let cases: Vec<(String, bool)> = vec![
            // case-insensitive attribute names and values
            (r#"userName eq "bjensen@example.com""#.into(), true),
            (r#"USERNAME eq "BJENSEN@EXAMPLE.COM""#.into(), true),
            (r#"username ne "bjensen@example.com""#.into(), false),
            (r#"userName ne "someone@else""#.into(), true),
            // caseExact attributes
            (r#"externalId eq "Bjensen-EXT""#.into(), true),
            (r#"externalId eq "bjensen-ext""#.into(), false),
            (
                r#"id eq "2819C223-7F76-453A-919D-413861904646""#.into(),
                false,
            ),
            // substring operators
            (r#"displayName co "BARA j""#.into(), true),
            (r#"displayName sw "barb""#.into(), true),
            (r#"displayName ew "JENSEN""#.into(), true),
            (r#"displayName sw "jensen""#.into(), false),
            (r#"externalId co "ext""#.into(), false),
            // sub-attributes of singular complex attributes
            (r#"name.givenName eq "barbara""#.into(), true),
            (r#"Name.GivenName sw "B""#.into(), true),
            // presence
            ("nickName pr".into(), false),
            ("phoneNumbers pr".into(), false),
            ("roles pr".into(), false),
            ("title pr".into(), false),
            ("addresses pr".into(), false),
            ("emails pr".into(), true),
            ("name pr".into(), true),
            ("active pr".into(), true),
            ("emails.type pr".into(), true),
            ("groups.display pr".into(), true),
            // dates and numbers
            (
                r#"meta.lastModified gt "2011-05-13T04:42:33Z""#.into(),
                true,
            ),
            (
                r#"meta.lastModified gt "2011-05-13T06:42:33+02:00""#.into(),
                true,
            ),
            (
                r#"meta.lastModified lt "2011-05-13T06:42:33+02:00""#.into(),
                false,
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34.000Z""#.into(),
                true,
            ),
            (
                r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#.into(),
                true,
            ),
            (
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#.into(),
                true,
            ),
            (r#"meta.created lt "2011-01-01T00:00:00Z""#.into(), true),
            ("loginCount gt 41".into(), true),
            ("loginCount ge 42".into(), true),
            ("loginCount lt 42".into(), false),
            ("loginCount le 42.0".into(), true),
            ("loginCount eq 42.0".into(), true),
            ("score gt 2".into(), true),
            ("score lt -1".into(), false),
            ("loginCount gt \"41\"".into(), false),
            // lexicographic strings
            (r#"name.familyName gt "jameson""#.into(), true),
            (r#"name.familyName lt "JOHNSON""#.into(), true),
            // booleans and null
            ("active eq true".into(), true),
            ("active eq TRUE".into(), true),
            ("active eq false".into(), false),
            ("active ne false".into(), true),
            (r#"active eq "true""#.into(), false),
            ("title eq null".into(), true),
            ("addresses eq null".into(), true),
            ("phoneNumbers eq null".into(), true),
            ("userName eq null".into(), false),
            ("userName ne null".into(), true),
            // multi-valued
            (r#"emails eq "BJENSEN@example.com""#.into(), true),
            (r#"emails.value eq "babs@jensen.org""#.into(), true),
            (r#"emails co "jensen.org""#.into(), true),
            (r#"emails.type eq "other""#.into(), false),
            (r#"emails.type ne "other""#.into(), true),
            (r#"entitlements eq "write""#.into(), true),
            (r#"groups eq "g1""#.into(), true),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#.into(),
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#.into(),
                false,
            ),
            (
                r#"emails[type eq "work"] and emails[type eq "home"]"#.into(),
                true,
            ),
            (r#"emails[primary eq true and type eq "work"]"#.into(), true),
            (
                r#"emails[primary eq true and type eq "home"]"#.into(),
                false,
            ),
            (r#"emails[not (type eq "work")]"#.into(), true),
            (r#"entitlements[value eq "READ"]"#.into(), true),
            (r#"phoneNumbers[type eq "work"]"#.into(), false),
            // not
            (r#"not (userName eq "bjensen@example.com")"#.into(), false),
            (
                r#"not (userName eq "nobody") and active eq true"#.into(),
                true,
            ),
            // enterprise extension and core URN
            (format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#), true),
            (format!(r#"{ENTERPRISE}:EMPLOYEENUMBER eq "701984""#), true),
            (
                format!(r#"{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
                true,
            ),
            (
                format!(r#"{ENTERPRISE}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
                true,
            ),
            (
                format!(r#"{ENTERPRISE}:manager.displayName sw "john""#),
                true,
            ),
            (format!(r#"{ENTERPRISE}:division pr"#), false),
            (
                format!(r#"{CORE_USER}:userName eq "bjensen@example.com""#),
                true,
            ),
            (format!(r#"{CORE_USER}:name.givenName eq "Barbara""#), true),
            (
                r#"urn:example:other:1.0:User:employeeNumber eq "701984""#.into(),
                false,
            ),
            // employeeNumber is not a core attribute
            (r#"employeeNumber eq "701984""#.into(), false),
            // missing attributes
            (r#"nothing eq "x""#.into(), false),
            (r#"nothing co "x""#.into(), false),
            (r#"nothing gt "x""#.into(), false),
            (r#"nothing ne "x""#.into(), true),
            (r#"name.middleName eq "x""#.into(), false),
            (r#"name.middleName ne "x""#.into(), true),
            // precedence
            (
                r#"userName eq "nobody" or active eq true and loginCount gt 1"#.into(),
                true,
            ),
            (
                r#"(userName eq "nobody" or active eq true) and loginCount gt 100"#.into(),
                false,
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(eval(&filter), Ok(want), "{filter}");
        }
    }

    #[test]
    fn evaluation_errors() {
        for filter in [
            r#"active gt "a""#,
            r#"active co "t""#,
            r#"active ew "e""#,
            r#"emails.primary lt "x""#,
            // errors surface even when the other side decides the outcome
            r#"userName eq "nobody" and active ge "x""#,
        ] {
            let e = eval(filter).unwrap_err();
            assert!(e.message.contains("boolean attribute"), "{filter}: {e}");
        }
        // Hand-built trees that the parser would reject are errors too.
        let f = c(a("active"), CompareOp::Gt, json!(true));
        assert!(matches(&f, &user(), &|_| false).is_err());
        let f = c(a("userName"), CompareOp::Co, json!(1));
        assert!(matches(&f, &user(), &|_| false).is_err());
    }

    #[test]
    fn case_exact_sees_value_path_context() {
        let seen = std::cell::RefCell::new(Vec::new());
        let f = parse_filter(r#"emails[value eq "X"] and name.givenName eq "y""#).unwrap();
        let record = |p: &AttrPath| {
            seen.borrow_mut().push(p.to_string());
            false
        };
        matches(&f, &user(), &record).unwrap();
        let seen = seen.into_inner();
        assert!(seen.contains(&"emails.value".to_string()), "{seen:?}");
        assert!(seen.contains(&"name.givenName".to_string()), "{seen:?}");

        // With emails.value caseExact the comparison becomes case-sensitive.
        let exact = |p: &AttrPath| p.to_string() == "emails.value";
        let f = parse_filter(r#"emails[value eq "BJENSEN@example.com"]"#).unwrap();
        assert!(!matches(&f, &user(), &exact).unwrap());
        assert!(matches(&f, &user(), &|_| false).unwrap());
    }

    #[test]
    fn group_members() {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs"},
                {"value": "902c246b", "$ref": "https://example.com/v2/Users/902c246b"}
            ]
        });
        let yes = |f: &str| matches(&parse_filter(f).unwrap(), &group, &|_| false).unwrap();
        assert!(yes(r#"members[value eq "902c246b"]"#));
        assert!(yes(r#"members eq "2819c223""#));
        assert!(yes(r#"members.$ref ew "/902c246b""#));
        assert!(!yes(r#"members[value eq "nope"]"#));
        assert!(yes(
            r#"displayName eq "tour guides" and members[value eq "2819c223"]"#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "Tour""#
        ));
    }

    #[test]
    fn display_is_canonical() {
        let f = parse_filter(
            r#"NOT (A EQ "x") AND (b pr OR c Gt 1) or emails[TYPE eq "w\"k" and value pr]"#,
        )
        .unwrap();
        assert_eq!(
            f.to_string(),
            r#"not (A eq "x") and (b pr or c gt 1) or emails[TYPE eq "w\"k" and value pr]"#
        );
        let right_nested = and(pr(a("a")), and(pr(a("b")), pr(a("c"))));
        assert_eq!(right_nested.to_string(), "a pr and (b pr and c pr)");
        let or_in_and = and(or(pr(a("a")), pr(a("b"))), pr(a("c")));
        assert_eq!(or_in_and.to_string(), "(a pr or b pr) and c pr");
        assert_eq!(
            u(ENTERPRISE, "manager", Some("value")).to_string(),
            format!("{ENTERPRISE}:manager.value")
        );
    }

    // ---- property tests ----

    fn name_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,7}"
            .prop_filter("`not` is a keyword", |n| !n.eq_ignore_ascii_case("not"))
    }

    fn attr_path_strategy() -> impl Strategy<Value = AttrPath> {
        let schema = prop_oneof![
            4 => Just(None),
            1 => Just(Some(ENTERPRISE.to_string())),
            1 => Just(Some(CORE_USER.to_string())),
            1 => Just(Some("urn:example:params:1.0:Thing".to_string())),
        ];
        let sub = prop_oneof![
            2 => Just(None),
            1 => name_strategy().prop_map(Some),
            1 => Just(Some("$ref".to_string())),
        ];
        (schema, name_strategy(), sub).prop_map(|(schema, attr, sub_attr)| AttrPath {
            schema,
            attr,
            sub_attr,
        })
    }

    fn leaf_strategy() -> impl Strategy<Value = Filter> {
        let string = any::<String>().prop_map(Value::String);
        let number = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
        ];
        let any_value = prop_oneof![
            string.clone(),
            number.clone(),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        let equality = prop_oneof![Just(CompareOp::Eq), Just(CompareOp::Ne)];
        let ordering = prop_oneof![
            Just(CompareOp::Gt),
            Just(CompareOp::Ge),
            Just(CompareOp::Lt),
            Just(CompareOp::Le)
        ];
        let substring = prop_oneof![
            Just(CompareOp::Co),
            Just(CompareOp::Sw),
            Just(CompareOp::Ew)
        ];
        prop_oneof![
            attr_path_strategy().prop_map(Filter::Present),
            (attr_path_strategy(), equality, any_value)
                .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
            (
                attr_path_strategy(),
                ordering,
                prop_oneof![string.clone(), number]
            )
                .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
            (attr_path_strategy(), substring, string)
                .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        ]
    }

    fn combine(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| or(l, r)),
            inner.prop_map(not),
        ]
        .boxed()
    }

    /// Filters without value paths (what may appear inside `[...]`).
    fn simple_filter_strategy() -> BoxedStrategy<Filter> {
        leaf_strategy().prop_recursive(4, 24, 2, combine).boxed()
    }

    fn filter_strategy() -> BoxedStrategy<Filter> {
        let value_path = (
            attr_path_strategy().prop_map(|mut p| {
                p.sub_attr = None;
                p
            }),
            simple_filter_strategy(),
        )
            .prop_map(|(p, f)| vp(p, f));
        prop_oneof![3 => leaf_strategy(), 1 => value_path]
            .prop_recursive(4, 32, 2, |inner| {
                prop_oneof![
                    3 => combine(inner.clone()),
                    1 => inner,
                ]
            })
            .boxed()
    }

    fn token_soup() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "userName",
            "emails",
            "name.givenName",
            "members.$ref",
            ".",
            ":",
            "urn:",
            "urn:a:b:",
            ENTERPRISE,
            "eq",
            "NE",
            "co",
            "sw",
            "ew",
            "gt",
            "ge",
            "lt",
            "le",
            "pr",
            "and",
            "or",
            "not",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "\"x\"",
            "\"\\",
            "\\u",
            "\\ud83d",
            "\\u00e9",
            "1",
            "-",
            "-1.5e3",
            "0",
            "1e",
            "true",
            "FALSE",
            "null",
            " ",
            "\t",
            "é",
            "日",
            "'",
            "$",
            "\u{0}",
        ]);
        prop::collection::vec((token, any::<bool>()), 0..24).prop_map(|tokens| {
            tokens
                .into_iter()
                .map(|(t, space)| {
                    if space {
                        format!("{t} ")
                    } else {
                        t.to_string()
                    }
                })
                .collect()
        })
    }

    proptest! {
        // PROPTEST_CASES=100000 for a longer fuzzing run.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn parse_never_panics_on_arbitrary_strings(input in any::<String>()) {
            let _ = parse_filter(&input);
            let _ = parse_path(&input);
        }

        #[test]
        fn parse_and_eval_never_panic_on_token_soup(input in token_soup()) {
            if let Ok(f) = parse_filter(&input) {
                let _ = matches(&f, &user(), &rfc_case_exact);
                // Whatever parses renders to something that parses to the same tree.
                prop_assert_eq!(parse_filter(&f.to_string()), Ok(f));
            }
            if let Ok(p) = parse_path(&input) {
                prop_assert_eq!(parse_path(&p.to_string()), Ok(p));
            }
        }

        #[test]
        fn errors_point_inside_the_input(input in token_soup()) {
            if let Err(e) = parse_filter(&input) {
                prop_assert!(e.position <= input.len(), "{:?} for {:?}", e, input);
            }
        }

        #[test]
        fn display_round_trips(f in filter_strategy()) {
            let text = f.to_string();
            match parse_filter(&text) {
                Ok(parsed) => prop_assert_eq!(&parsed, &f, "rendered: {}", text),
                Err(e) => prop_assert!(false, "{} failed to parse: {}", text, e),
            }
            let _ = matches(&f, &user(), &rfc_case_exact);
        }

        #[test]
        fn patch_path_display_round_trips(
            attr in attr_path_strategy(),
            filter in proptest::option::of(simple_filter_strategy()),
            sub in proptest::option::of(name_strategy()),
        ) {
            let path = match filter {
                Some(f) => PatchPath {
                    attr: AttrPath { sub_attr: None, ..attr },
                    filter: Some(f),
                    sub_attr: sub,
                },
                None => PatchPath { attr, filter: None, sub_attr: None },
            };
            prop_assert_eq!(parse_path(&path.to_string()), Ok(path));
        }
    }
}
