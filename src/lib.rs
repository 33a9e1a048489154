//! sso-gateway: single sign-on (SAML, OIDC) and SCIM provisioning in front
//! of a SaaS product. `main.rs` is the command line; everything else is here,
//! one module per concern:
//!
//! * `config` — settings (defaults, file, environment)
//! * `store` — SQLite/PostgreSQL data access; `cache` — in-process/Redis state
//! * `provisioning` — the membership rules every entry point goes through
//! * `integrations` — IdP settings and the SCIM toggle; `secrets` — tokens and sealed secrets
//! * `web` — the HTTP server, its middleware and the sign-in/session routes;
//!   `admin_api` — `/api/v1` (errors in `api_error`); `scim` — `/scim/v2`
//! * `saml` — SAML metadata and validation; `oidc` — OpenID Connect sign-in; `signin`, `session` — what every
//!   sign-in path shares; `outbound` — SSRF-safe HTTP to admin-chosen URLs
//! * `dns` — TXT look-ups for domain verification
//! * `op` — the gateway as an OpenID Provider for the product's own apps
//! * `events` — the lifecycle events' vocabulary (written by `provisioning`, through `store`)
//! * `webhooks` — the events pushed to the product's endpoints (Standard Webhooks), and their workers
//! * `metrics`, `state` — shared by the above

pub mod admin_api;
pub mod admin_ui;
pub mod api_error;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod dns;
pub mod events;
pub mod integrations;
pub mod local_path;
pub mod metrics;
pub mod oidc;
pub mod op;
pub mod outbound;
pub mod pages;
pub mod provisioning;
pub mod saml;
pub mod scim;
pub mod secrets;
pub mod session;
pub mod signin;
pub mod state;
pub mod store;
pub mod web;
pub mod webhooks;
