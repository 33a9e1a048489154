//! Integrations: an organization's connection to its identity provider.
//!
//! This module owns the kind-specific settings — what an admin may send, how
//! it is validated, how it is stored (client secrets sealed) and how it is
//! shown back (never a secret) — and the SCIM provisioning toggle.

mod expiry;
mod fields;
mod metadata;
mod rules;
mod saml_source;
mod settings;
mod view;
mod wire;

pub use crate::store::Kind;
pub use expiry::{warn_expiring_certificates, WARNING_DAYS};
pub use fields::parse_certificates;
pub use metadata::refresh_due_metadata;
pub use rules::{
    create, create_with_id, delete, disable_provisioning, enable_provisioning, update,
};
pub use saml_source::fetch_metadata;
pub use saml_source::{SamlSettings, SamlSource};
pub use settings::{stored_settings, Settings};
pub use view::{scim_tenant_url, view};
pub use wire::{
    CertificateView, IntegrationInput, IntegrationView, OidcView, ProvisioningView, SamlView,
    ScimCredentials,
};
