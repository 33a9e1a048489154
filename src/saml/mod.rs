//! SAML 2.0 sign-in for `okta` and `saml` integrations: metadata, the
//! AuthnRequest (HTTP-Redirect), the ACS validation pipeline, and Single
//! Logout.
//!
//! samael (on xmlsec) verifies signatures and reduces the document to its
//! signed part; everything samael leaves open — DOCTYPEs, reference URIs and
//! transforms, SHA-1, unsigned responses, audience, InResponseTo, replay,
//! future IssueInstant — is closed here.

mod decrypt;
pub mod keys;
pub mod metadata;
mod prefilter;
pub mod redirect;
pub mod validate;

pub use keys::{SpKey, SpKeys, SpSigningKey};
pub use metadata::{parse_idp_metadata, sp_metadata_xml, IdpDescriptor, MetadataError};
pub mod flow;
pub mod logout;
pub mod slo;
