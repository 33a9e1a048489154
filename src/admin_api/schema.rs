//! The parts of the OpenAPI document the derives cannot say: the rules on
//! stored strings (from `provisioning::limits` and the rules that check
//! them), and the answers every handler gives through its extractors.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{
    AllOfBuilder, ArrayBuilder, ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema,
};
use utoipa::{Modify, PartialSchema, ToSchema};

use crate::api_error::ApiError;
use crate::provisioning::limits::{bounded, NAME};

/// What `provisioning::validate_name` keeps: white space (which `str::trim`
/// drops) around a value that starts and ends with a visible character and
/// has no control character (`char::is_control`) inside.
const NAME_PATTERN: &str = concat!(
    "^[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*",
    "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
    "([^\\u0000-\\u001F\\u007F-\\u009F]*",
    "[^\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?",
    "[\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$",
);

/// A host name of two or more labels whose last one does not start with a
/// digit (`provisioning::normalize_domains`, which also accepts — and
/// normalizes — upper case, a leading `@`, a trailing dot and IDN forms).
const DOMAIN_PATTERN: &str = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+\
    [A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

/// As `normalize_domains` allows per team.
const MAX_DOMAINS: usize = 100;
/// The longest host name DNS allows.
const DOMAIN: usize = 253;

fn string_schema(nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        Type::String.into()
    };
    ObjectBuilder::new().schema_type(ty)
}

fn name_schema(nullable: bool) -> Schema {
    string_schema(nullable)
        .description(Some(format!(
            "At most {NAME} characters, no control characters, not blank."
        )))
        .min_length(Some(1))
        .max_length(Some(NAME))
        .pattern(Some(NAME_PATTERN))
        .into()
}

/// A team or organization name.
pub fn name() -> Schema {
    name_schema(false)
}

/// A team or organization name, or `null` for "unchanged".
pub fn name_or_null() -> Schema {
    name_schema(true)
}

fn domains_schema(nullable: bool) -> Schema {
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(DOMAIN))
        .pattern(Some(DOMAIN_PATTERN));
    let array = ArrayBuilder::new()
        .items(item)
        .max_items(Some(MAX_DOMAINS))
        .description(Some(
            "Email domains whose people may join (example.com); stored lower-case, \
             de-duplicated and sorted. Public mailbox providers are refused.",
        ));
    let array = if nullable {
        array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
    } else {
        array
    };
    array.into()
}

pub fn domains() -> Schema {
    domains_schema(false)
}

pub fn domains_or_null() -> Schema {
    domains_schema(true)
}

/// `since`/`until` of the audit query: RFC 3339 or unix milliseconds.
pub fn instant() -> Schema {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^-?[0-9]{1,18}$")),
        )
        .into()
}

/// A stored name as given, before trimming: the schema's `maxLength` holds
/// for the raw value, so the rule's bound on the trimmed one is not enough.
pub fn check_name(field: &'static str, raw: &str) -> Result<(), ApiError> {
    bounded(field, raw, NAME)?;
    Ok(())
}

/// Pre-approved domains as given: normalizing caps what is stored, this
/// caps what is sent (padding included), as the schema says.
pub fn check_domains(raw: &[String]) -> Result<(), ApiError> {
    for domain in raw {
        bounded("preapproved_domains", domain, DOMAIN)?;
    }
    Ok(())
}

/// The body of `POST /integrations`: an `IntegrationInput` whose `kind` is
/// required (on `PATCH` it may be left out).
pub struct NewIntegration;

impl PartialSchema for NewIntegration {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .item(Ref::from_schema_name("IntegrationInput"))
            .item(ObjectBuilder::new().required("kind"))
            .into()
    }
}

impl ToSchema for NewIntegration {}

/// Adds the answers that come from the extractors rather than the handlers,
/// so no route can forget them: 401 from the admin token or API key, 400
/// from the query string, 400/413/415/422 from the JSON body, 503 from the
/// database. (`CallerScopes` in mod.rs adds what each kind of caller meets.)
pub struct ExtractorResponses;

pub(super) fn error_response(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// Every operation of the document, whatever its method.
pub(super) fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
    })
}

impl Modify for ExtractorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in operations_mut(openapi) {
            error_response(
                operation,
                "401",
                "No admin token or API key, or one that is revoked or mistyped",
            );
            error_response(
                operation,
                "503",
                "The database is unavailable; retry after `Retry-After` seconds",
            );
            let has_query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Query);
            if has_query {
                error_response(
                    operation,
                    "400",
                    "A query parameter is unknown or out of range",
                );
            }
            if operation.request_body.is_some() {
                error_response(operation, "400", "The body is not valid JSON");
                error_response(
                    operation,
                    "413",
                    "The body is larger than `server.max_body_bytes`",
                );
                error_response(
                    operation,
                    "415",
                    "The body is not sent as `application/json`",
                );
                error_response(
                    operation,
                    "422",
                    "The body does not fit this endpoint, or a field breaks a rule \
                         (`error.field` names it)",
                );
            }
        }
    }
}
