//! The recursive-descent parser of filters and PATCH paths.

use serde_json::Value;

use super::ast::{AttrPath, CompareOp, Filter, FilterError, PatchPath};
use super::{MAX_CLAUSES, MAX_NESTING};

const OPERATOR_LIST: &str = "eq, ne, co, sw, ew, gt, ge, lt, le or pr";

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
    /// The input ended before the bracket opened at `open` was closed.
    fn unclosed(&self, closing: u8, open: usize) -> FilterError {
        let opening = if closing == b')' { '(' } else { '[' };
        FilterError::new(
            self.pos,
            format!(
                "missing `{}` for the `{opening}` at {open}: the input ends at {}",
                closing as char, self.pos
            ),
        )
    }

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
            return Err(self.unclosed(b')', open));
        }
        let inner = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => self.pos += 1,
            None => return Err(self.unclosed(b')', open)),
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
            None => return Err(self.unclosed(b']', open)),
            Some(_) => {}
        }
        let inner = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(b']') => self.pos += 1,
            None => return Err(self.unclosed(b']', open)),
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
pub(super) fn check_operand(op: CompareOp, value: &Value) -> Result<(), String> {
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

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
    }
}

impl std::str::FromStr for PatchPath {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_path(s)
    }
}
