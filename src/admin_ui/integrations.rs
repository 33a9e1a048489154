//! Single sign-on settings: connect Okta / Entra / generic SAML and OIDC,
//! each integration's status, and its SCIM provisioning toggle.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::audit::SignInSummary;
use super::teams::group_lines;
use super::{field_errors, given, page, see_other, Admin, Chrome, DoneQuery, FieldErrors, UiError};
use crate::integrations::{self, IntegrationInput, IntegrationView, Kind, ScimCredentials};
use crate::session;
use crate::signin;
use crate::state::AppState;
use crate::store::{new_id, AuditFilter, Integration};

/// How long the SCIM token waits, sealed, for the one page view that shows it.
const TOKEN_HANDOFF: Duration = Duration::from_secs(600);

/// Certificates this close to expiry are flagged.
const CERT_WARNING_DAYS: i64 = 30;

fn parse_kind(raw: &str) -> Result<Kind, UiError> {
    Kind::parse(raw).ok_or_else(|| UiError::not_found("kind of integration"))
}

pub fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Okta => "Okta",
        Kind::Entra => "Microsoft Entra ID",
        Kind::Saml => "SAML 2.0",
        Kind::Oidc => "OpenID Connect",
    }
}

/// One integration as the pages show it.
pub struct Card {
    pub view: IntegrationView,
    pub kind_label: &'static str,
    /// "ok", "warn" or "bad", and its words.
    pub status: (&'static str, String),
    pub warnings: Vec<String>,
    pub last_sign_in: Option<SignInSummary>,
}

impl Card {
    pub fn cert_class(&self, days: impl super::Millis) -> &'static str {
        match days.millis() {
            d if d < 0 => "bad",
            d if d < CERT_WARNING_DAYS => "warn",
            _ => "ok",
        }
    }
}

async fn last_sign_ins(
    state: &AppState,
    admin: &Admin,
    integration_id: &str,
    limit: i64,
) -> Result<Vec<SignInSummary>, UiError> {
    let filter = AuditFilter {
        kind: Some("sign_in".into()),
        actor: Some(format!("sso:{integration_id}")),
        limit,
        ..Default::default()
    };
    let events = state.store.audit_events(&admin.org_id, &filter).await?;
    Ok(events.iter().map(SignInSummary::from_event).collect())
}

async fn card(state: &AppState, admin: &Admin, integration: &Integration) -> Result<Card, UiError> {
    let view = integrations::view(&state.config, integration)?;
    let mut warnings = Vec::new();
    if let Some(saml) = &view.saml {
        for cert in &saml.certificates {
            if cert.expires_in_days < 0 {
                warnings.push(format!(
                    "A signing certificate expired on {}. Sign-ins signed with it are refused; get the new certificate into the integration (refresh the metadata link, or enter it by hand).",
                    &cert.not_after[..10]
                ));
            } else if cert.expires_in_days < CERT_WARNING_DAYS {
                let rollover = if saml.metadata_url.is_some() {
                    format!(
                        "This integration re-reads its metadata link every {} hours, so the identity provider's next certificate arrives here by itself once the IdP publishes it (Okta: Sign On → SAML Signing Certificates → Generate new certificate; activate it after the next refresh).",
                        state.config.saml.metadata_refresh_seconds / 3600
                    )
                } else {
                    "Enter the identity provider's next certificate in Settings before then, or connect by metadata link so rollovers arrive by themselves.".to_string()
                };
                warnings.push(format!(
                    "A signing certificate expires in {} days ({}). {rollover}",
                    cert.expires_in_days,
                    &cert.not_after[..10]
                ));
            }
        }
        if let Some(error) = &saml.metadata_error {
            warnings.push(format!(
                "The last metadata refresh failed: {error}. The last good copy stays in use."
            ));
        }
    }
    let last_sign_in = last_sign_ins(state, admin, &integration.id, 1).await?.pop();
    let status = match (&last_sign_in, warnings.is_empty()) {
        (_, false) => ("warn", "Needs attention".to_string()),
        (None, true) => ("warn", "Connected, no sign-in yet".to_string()),
        (Some(s), true) if s.success => ("ok", "Working".to_string()),
        (Some(s), true) if s.idp_answer_verified => {
            ("ok", "Connected (last person was not admitted)".to_string())
        }
        (Some(_), true) => ("bad", "Last sign-in failed".to_string()),
    };
    Ok(Card {
        kind_label: kind_label(view.kind),
        view,
        status,
        warnings,
        last_sign_in,
    })
}

async fn find(state: &AppState, admin: &Admin, id: &str) -> Result<Integration, UiError> {
    state
        .store
        .org_integration(&admin.org_id, id)
        .await?
        .ok_or_else(|| UiError::not_found("integration"))
}

#[derive(Template)]
#[template(path = "admin/sso.html")]
struct SsoPage {
    chrome: Chrome,
    cards: Vec<Card>,
}

#[get("/sso")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, UiError> {
    let mut cards = Vec::new();
    for integration in state.store.integrations(&admin.org_id).await? {
        cards.push(card(&state, &admin, &integration).await?);
    }
    let page_ = SsoPage {
        chrome: admin.chrome("sso", query.done.as_deref()),
        cards,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

/// The Integration ID a connect form will create, drawn when the form is
/// first shown so the admin can paste it into Okta before Okta's metadata
/// link exists. Kept per admin session and kind; a new one is drawn once
/// that ID is in use.
async fn pending_id(state: &AppState, admin: &Admin, kind: Kind) -> Result<String, UiError> {
    let key = format!("admin_ui:pending:{}:{}", admin.session_key, kind.as_str());
    if let Some(id) = state.cache.get(&key).await? {
        if state.store.integration(&id).await?.is_none() {
            return Ok(id);
        }
    }
    let id = new_id();
    let ttl = Duration::from_secs(state.config.session.admin_lifetime_seconds);
    state.cache.put(&key, &id, ttl).await?;
    Ok(id)
}

/// What the IdP needs from us, known from the Integration ID alone.
pub struct ServiceProvider {
    pub sign_in_url: String,
    pub acs_url: String,
    pub sp_metadata_url: String,
    pub redirect_uri: String,
}

fn service_provider(state: &AppState, kind: Kind, id: &str) -> ServiceProvider {
    let base = state
        .config
        .external_url(&format!("/users/sign-in/sso/{}/{id}", kind.as_str()));
    ServiceProvider {
        acs_url: base.clone(),
        sp_metadata_url: format!("{base}/metadata"),
        redirect_uri: format!("{base}/callback"),
        sign_in_url: base,
    }
}

/// Every field a connect or settings form may send; which apply depends
/// on the kind and on `source` (SAML: `url` or `manual`).
#[derive(Deserialize, Default)]
struct SettingsForm {
    source: Option<String>,
    name: Option<String>,
    metadata_url: Option<String>,
    sso_url: Option<String>,
    certificate_pem: Option<String>,
    idp_entity_id: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    issuer: Option<String>,
    /// SAML: the form carries the two switches below (an unticked box
    /// sends nothing, so this tells "off" from "not on this form").
    switches: Option<String>,
    sign_requests: Option<String>,
    require_encrypted_assertions: Option<String>,
    /// The groups form sends these three (blank = default / none).
    groups_attribute: Option<String>,
    role_owner: Option<String>,
    role_admin: Option<String>,
}

/// What the form re-shows after an error (never the client secret).
#[derive(Default)]
pub struct SettingsValues {
    pub source: String,
    pub name: String,
    pub metadata_url: String,
    pub sso_url: String,
    pub certificate_pem: String,
    pub idp_entity_id: String,
    pub tenant: String,
    pub client_id: String,
    pub issuer: String,
    pub sign_requests: bool,
    pub require_encrypted_assertions: bool,
    pub groups_attribute: String,
    /// One group per line.
    pub role_owner: String,
    pub role_admin: String,
}

impl SettingsForm {
    fn values(&self) -> SettingsValues {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        SettingsValues {
            source: v(&self.source),
            name: v(&self.name),
            metadata_url: v(&self.metadata_url),
            sso_url: v(&self.sso_url),
            certificate_pem: v(&self.certificate_pem),
            idp_entity_id: v(&self.idp_entity_id),
            tenant: v(&self.tenant),
            client_id: v(&self.client_id),
            issuer: v(&self.issuer),
            sign_requests: self.sign_requests.is_some(),
            require_encrypted_assertions: self.require_encrypted_assertions.is_some(),
            groups_attribute: v(&self.groups_attribute),
            role_owner: v(&self.role_owner),
            role_admin: v(&self.role_admin),
        }
    }

    fn manual(&self) -> bool {
        self.source.as_deref() == Some("manual")
    }

    /// The admin API's input for this kind: blank fields are absent, and only
    /// the chosen SAML source is sent.
    fn input(&self, kind: Kind, creating: bool) -> IntegrationInput {
        let mut input = IntegrationInput {
            kind: creating.then_some(kind),
            name: given(&self.name),
            ..Default::default()
        };
        match kind {
            Kind::Okta | Kind::Saml if self.manual() => {
                input.sso_url = given(&self.sso_url);
                input.certificate_pem = given(&self.certificate_pem);
                input.idp_entity_id = given(&self.idp_entity_id);
            }
            Kind::Okta | Kind::Saml => input.metadata_url = given(&self.metadata_url),
            Kind::Entra | Kind::Oidc => {
                if kind == Kind::Entra {
                    input.tenant = given(&self.tenant);
                } else {
                    input.issuer = given(&self.issuer);
                }
                input.client_id = given(&self.client_id);
                input.client_secret = given(&self.client_secret);
            }
        }
        if kind.is_saml() && self.switches.is_some() {
            input.sign_requests = Some(self.sign_requests.is_some());
            input.require_encrypted_assertions = Some(self.require_encrypted_assertions.is_some());
        }
        if let Some(attribute) = &self.groups_attribute {
            let lines = |v: &Option<String>| group_lines(v.as_deref().unwrap_or_default());
            input.groups_attribute = Some(attribute.clone());
            input.role_mapping = Some(serde_json::json!({
                "owner": lines(&self.role_owner),
                "admin": lines(&self.role_admin),
            }));
        }
        input
    }

    /// A form that names no IdP source at all (blank link, blank manual
    /// fields) gets its message on the field the admin is looking at.
    fn missing_source(&self, kind: Kind) -> Option<FieldErrors> {
        if !kind.is_saml() {
            return None;
        }
        if self.manual() {
            (given(&self.sso_url).is_none() && given(&self.certificate_pem).is_none()).then(|| {
                let mut errors = FieldErrors::one(
                    "sso_url",
                    "Enter the identity provider's single sign-on URL.",
                );
                errors.add("certificate_pem", "Paste the X.509 signing certificate.");
                errors
            })
        } else {
            given(&self.metadata_url)
                .is_none()
                .then(|| FieldErrors::one("metadata_url", "Paste the metadata link."))
        }
    }
}

#[derive(Template)]
#[template(path = "admin/connect.html")]
struct ConnectPage {
    chrome: Chrome,
    kind: Kind,
    kind_label: &'static str,
    integration_id: String,
    sp: ServiceProvider,
    values: SettingsValues,
    errors: FieldErrors,
}

#[get("/sso/connect/{kind}")]
pub async fn connect_page(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let kind = parse_kind(&path)?;
    let id = pending_id(&state, &admin, kind).await?;
    let page_ = ConnectPage {
        chrome: admin.chrome("sso", None),
        kind,
        kind_label: kind_label(kind),
        sp: service_provider(&state, kind, &id),
        integration_id: id,
        values: SettingsValues::default(),
        errors: FieldErrors::default(),
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

/// Where a freshly connected integration sends the admin: to the IdP for a
/// test sign-in (the Okta guide's "you will be redirected to Okta").
fn after_connect(id: &str) -> String {
    format!("/admin/sso/{id}/test")
}

/// Starts a test sign-in through an integration; the result lands on
/// `/admin/sso/{id}/tested`.
#[get("/sso/{id}/test")]
pub async fn test_sign_in(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let integration = find(&state, &admin, &path).await?;
    let kind = integration.kind;
    let url = format!(
        "/users/sign-in/sso/{}/{}?return_to=/admin/sso/{}/tested",
        kind.as_str(),
        integration.id,
        integration.id
    );
    let idp_name = super::provider_name(kind);
    Ok(admin.attach_cookie(super::to_identity_provider(
        &url,
        idp_name,
        "Sign in there as a test; you come back here to see the result.",
    )))
}

#[post("/sso/connect/{kind}")]
pub async fn connect(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let kind = parse_kind(&path)?;
    let form: SettingsForm = admin.form(&body)?;
    let id = pending_id(&state, &admin, kind).await?;
    let errors = match form.missing_source(kind) {
        Some(errors) => errors,
        None => {
            let input = form.input(kind, true);
            match integrations::create_with_id(&state, &admin.org_id, &id, &input, &admin.actor)
                .await
            {
                Ok(created) => return Ok(see_other(&after_connect(&created.id))),
                Err(e) => field_errors(e, "name")?,
            }
        }
    };
    let page_ = ConnectPage {
        chrome: admin.chrome("sso", None),
        kind,
        kind_label: kind_label(kind),
        sp: service_provider(&state, kind, &id),
        integration_id: id,
        values: form.values(),
        errors,
    };
    Ok(page(
        &admin,
        StatusCode::UNPROCESSABLE_ENTITY,
        page_.render(),
    ))
}

#[derive(Template)]
#[template(path = "admin/integration.html")]
struct DetailPage {
    chrome: Chrome,
    card: Card,
    recent: Vec<SignInSummary>,
    values: SettingsValues,
    errors: FieldErrors,
    /// SAML: our SP keys, as SP metadata publishes them (read-only).
    sp_keys: Vec<crate::saml::keys::Listed>,
    seen_groups: Option<SeenGroups>,
}

/// The groups the integration's last sign-in asserted, to copy into teams.
pub struct SeenGroups {
    /// `None`: unknown (the IdP reported group overage).
    pub groups: Option<Vec<String>>,
    pub note: Option<String>,
    pub at: i64,
}

async fn detail_page(
    state: &AppState,
    admin: &Admin,
    integration: &Integration,
    done: Option<&str>,
    form: Option<&SettingsForm>,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let card = card(state, admin, integration).await?;
    let recent = last_sign_ins(state, admin, &integration.id, 5).await?;
    let values = match form {
        Some(f) => f.values(),
        None => SettingsValues {
            source: match card.view.saml.as_ref().map(|s| s.source.as_str()) {
                Some("manual") => "manual".into(),
                _ => "url".into(),
            },
            name: card.view.name.clone(),
            metadata_url: card
                .view
                .saml
                .as_ref()
                .and_then(|s| s.metadata_url.clone())
                .unwrap_or_default(),
            sso_url: card
                .view
                .saml
                .as_ref()
                .map(|s| s.sso_url.clone())
                .unwrap_or_default(),
            idp_entity_id: card
                .view
                .saml
                .as_ref()
                .and_then(|s| s.idp_entity_id.clone())
                .unwrap_or_default(),
            tenant: card
                .view
                .oidc
                .as_ref()
                .and_then(|o| o.tenant.clone())
                .unwrap_or_default(),
            client_id: card
                .view
                .oidc
                .as_ref()
                .map(|o| o.client_id.clone())
                .unwrap_or_default(),
            issuer: card
                .view
                .oidc
                .as_ref()
                .map(|o| o.issuer.clone())
                .unwrap_or_default(),
            certificate_pem: String::new(),
            sign_requests: card.view.saml.as_ref().is_some_and(|s| s.sign_requests),
            require_encrypted_assertions: card
                .view
                .saml
                .as_ref()
                .is_some_and(|s| s.require_encrypted_assertions),
            groups_attribute: card.view.groups_attribute.clone().unwrap_or_default(),
            role_owner: card.view.role_mapping.owner.join("\n"),
            role_admin: card.view.role_mapping.admin.join("\n"),
        },
    };
    let sp_keys = if integration.kind.is_saml() {
        crate::saml::keys::list(&state.store).await?
    } else {
        Vec::new()
    };
    let seen_groups = signin::last_asserted_groups(&state.cache, &integration.id)
        .await
        .map(|(seen, at)| SeenGroups {
            groups: seen.groups,
            note: seen.note,
            at,
        });
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page_ = DetailPage {
        chrome: admin.chrome("sso", done),
        card,
        recent,
        values,
        errors,
        sp_keys,
        seen_groups,
    };
    Ok(page(admin, status, page_.render()))
}

#[get("/sso/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, UiError> {
    let integration = find(&state, &admin, &path).await?;
    detail_page(
        &state,
        &admin,
        &integration,
        query.done.as_deref(),
        None,
        FieldErrors::default(),
    )
    .await
}

/// Changes the name or the IdP settings; blank fields keep what is stored
/// (a new client secret only when one is typed).
#[post("/sso/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: SettingsForm = admin.form(&body)?;
    let integration = find(&state, &admin, &path).await?;
    let kind = integration.kind;
    let input = form.input(kind, false);
    if kind.is_saml() && form.manual() && input.sso_url.is_some() != input.certificate_pem.is_some()
    {
        // Changing one manual field means giving both: the certificate is
        // never shown back, so ask for it rather than refuse obscurely.
        let errors = FieldErrors::one(
            "certificate_pem",
            "To change the SSO URL by hand, paste the X.509 certificate too (and the other way round).",
        );
        return detail_page(&state, &admin, &integration, None, Some(&form), errors).await;
    }
    match integrations::update(&state, &admin.org_id, &integration.id, &input, &admin.actor).await {
        Ok(_) => Ok(see_other(&format!(
            "/admin/sso/{}?done=saved",
            integration.id
        ))),
        Err(e) => {
            let errors = field_errors(e, "name")?;
            detail_page(&state, &admin, &integration, None, Some(&form), errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/integration_delete.html")]
struct DeletePage {
    chrome: Chrome,
    card: Card,
}

#[get("/sso/{id}/delete")]
pub async fn delete_page(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let integration = find(&state, &admin, &path).await?;
    let page_ = DeletePage {
        chrome: admin.chrome("sso", None),
        card: card(&state, &admin, &integration).await?,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

#[post("/sso/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    integrations::delete(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other("/admin/sso?done=deleted"))
}

fn token_key(admin: &Admin, id: &str) -> String {
    format!("admin_ui:scim_token:{}:{id}", admin.session_key)
}

#[derive(Serialize, Deserialize)]
struct SealedCredentials {
    tenant_url: String,
    tenant_id: String,
    token: String,
}

/// Turns provisioning on, or rotates its token. The token is handed to the
/// next page view sealed (AES-GCM, like client secrets) and taken from the
/// cache by it, so it is shown once even across the redirect.
#[post("/sso/{id}/provisioning")]
pub async fn enable_provisioning(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    let ScimCredentials {
        tenant_url,
        tenant_id,
        token,
    } = integrations::enable_provisioning(
        &state.store,
        &state.config,
        &admin.org_id,
        &path,
        &admin.actor,
    )
    .await?;
    let plain = serde_json::to_string(&SealedCredentials {
        tenant_url,
        tenant_id,
        token,
    })
    .map_err(crate::cache::CacheError::from)?;
    state
        .cache
        .put(
            &token_key(&admin, &path),
            &state.secrets.seal(&plain)?,
            TOKEN_HANDOFF,
        )
        .await?;
    Ok(see_other(&format!(
        "/admin/sso/{}/provisioning",
        path.as_str()
    )))
}

#[derive(Template)]
#[template(path = "admin/scim_token.html")]
struct TokenPage {
    chrome: Chrome,
    integration_id: String,
    integration_name: String,
    kind: Kind,
    credentials: Option<SealedCredentials>,
}

#[get("/sso/{id}/provisioning")]
pub async fn show_token(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let integration = find(&state, &admin, &path).await?;
    let credentials = match state.cache.take(&token_key(&admin, &path)).await? {
        Some(sealed) => state
            .secrets
            .open(&sealed)
            .ok()
            .and_then(|plain| serde_json::from_str(&plain).ok()),
        None => None,
    };
    let page_ = TokenPage {
        chrome: admin.chrome("sso", None),
        kind: integration.kind,
        integration_id: integration.id,
        integration_name: integration.name,
        credentials,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

#[post("/sso/{id}/provisioning/off")]
pub async fn disable_provisioning(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    integrations::disable_provisioning(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other(&format!(
        "/admin/sso/{}?done=provisioning_off",
        path.as_str()
    )))
}

#[derive(Template)]
#[template(path = "admin/tested.html")]
struct TestedPage {
    integration_id: String,
    signed_in_as: Option<String>,
    org_name: String,
}

/// Where a test sign-in lands. It needs no admin session: after the IdP's
/// cross-site POST the browser withholds the SameSite=Strict admin cookie,
/// so this page reports only what the person's own session says.
#[get("/sso/{id}/tested")]
pub async fn tested(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let member_session = session::current(&state.cache, &state.config, &req).await?;
    let mut signed_in_as = None;
    let mut org_name = String::new();
    if let Some((_, s)) = member_session.filter(|(_, s)| s.integration_id == path.as_str()) {
        if let Some(member) = state.store.member(&s.org_id, &s.user_id).await? {
            signed_in_as = Some(member.email);
            org_name = state
                .store
                .organization(&s.org_id)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
        }
    }
    let page_ = TestedPage {
        integration_id: path.into_inner(),
        signed_in_as,
        org_name,
    };
    Ok(crate::pages::html_with_policy(
        StatusCode::OK,
        page_.render(),
        super::ADMIN_PAGE_CSP,
    ))
}
