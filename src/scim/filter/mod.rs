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

mod ast;
mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompareOp, Filter, FilterError, PatchPath};
pub use eval::matches;
pub use parse::{parse_filter, parse_path};

/// Deepest nesting of parentheses / value filters that [`parse_filter`] accepts.
pub const MAX_NESTING: usize = 64;
/// Most attribute expressions (comparisons, `pr`, value paths) in one filter.
/// Bounds the depth of `and`/`or` chains, which the evaluator walks recursively.
pub const MAX_CLAUSES: usize = 1000;
