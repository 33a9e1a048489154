//! The HTTP server: routes, the middleware every request passes through
//! (request id, tracing span, metrics, security headers, body limits) and
//! the background jobs that run beside it.

mod account;
mod oidc;
mod op;
mod ops;
mod saml;
mod sign_in;
mod sign_in_page;
mod slo;

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tracing::Instrument;

use crate::api_error::{self, ApiError};
use crate::config::Config;
use crate::state::{AppState, StartupError};

pub use ops::{healthz, metrics, readyz};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Registers every route and the per-app settings on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState) {
    let max_body = state.config.server.max_body_bytes;
    cfg.app_data(web::Data::new(state.clone()))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(|err, _req| api_error::json_error(err).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _req| api_error::query_error(err).into()),
        )
        .app_data(web::PayloadConfig::new(max_body))
        .app_data(web::FormConfig::default().limit(max_body))
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(account::home)
        .service(account::me)
        .service(account::verify)
        .service(account::sign_out)
        .service(account::stylesheet)
        .service(sign_in_page::page)
        .service(sign_in_page::submit)
        .configure(|cfg| saml::configure(cfg, state.config.saml.max_response_bytes))
        .configure(|cfg| slo::configure(cfg, state.config.saml.max_response_bytes))
        .configure(oidc::configure)
        .configure(op::configure)
        .configure(crate::admin_api::configure)
        .configure(crate::admin_ui::configure)
        .configure(crate::scim::configure);
}

/// An id for every request: the caller's `X-Request-Id` when it is sane
/// (a proxy's), else a new one. It is in every log line of the request and
/// in the response.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    // Route patterns, not paths, keep metric labels few.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let result = next.call(req).instrument(span.clone()).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state
            .metrics
            .observe_http(&method, &route, status.as_u16(), elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request done"
        );
    });
    result.map(|mut res| {
        if let Ok(value) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(REQUEST_ID, value);
        }
        res
    })
}

fn security_headers(config: &Config) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        // Pages that need more (the admin UI) set their own policy.
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if config.public_url_is_https() {
        headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartupError> {
    let started = Instant::now();
    let bind = config.bind_addr()?;
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut state = AppState::open(config).await?;
    // First: it makes the store wake the webhook worker on every commit.
    crate::webhooks::spawn_workers(&mut state);
    spawn_purge_job(state.clone());
    spawn_domain_recheck_job(state.clone());
    spawn_certificate_expiry_job(state.clone());
    spawn_metadata_refresh_job(state.clone());
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        let state = app_state.clone();
        App::new()
            .configure(|cfg| configure(cfg, &state))
            .default_service(web::to(not_found))
            .wrap(security_headers(&state.config))
            .wrap(from_fn(observe))
    })
    .workers(workers)
    .shutdown_timeout(10)
    .bind(bind)
    .map_err(|source| StartupError::Bind {
        bind: bind.to_string(),
        source,
    })?;
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    tracing::info!(
        listen = %addrs.join(", "),
        public_url = %state.config.server.public_url,
        database = ?state.store.backend(),
        cache = state.cache.engine(),
        startup_ms = started.elapsed().as_millis() as u64,
        "sso-gateway ready"
    );
    server.run().await.map_err(|source| StartupError::Bind {
        bind: bind.to_string(),
        source,
    })?;
    state.store.close().await;
    Ok(())
}

/// Runs `pass` on `state` every `period` (the first at once), in the
/// background; a pass that overruns delays the next instead of bunching
/// them. Each job logs its own outcome.
fn spawn_every<F, Fut>(period: Duration, state: AppState, pass: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pass(state.clone()).await;
        }
    });
}

/// Keeps URL-connected IdP metadata fresh (certificate rollover). Checks
/// every few seconds which integrations are due; each is fetched about
/// once per `saml.metadata_refresh_seconds`, spread over it.
fn spawn_metadata_refresh_job(state: AppState) {
    let every = Duration::from_secs(state.config.saml.metadata_refresh_seconds.clamp(1, 30));
    let pass_ms = every.as_millis() as i64;
    spawn_every(every, state, move |state| async move {
        if let Err(e) = crate::integrations::refresh_due_metadata(&state, pass_ms).await {
            tracing::warn!(error = %e, "metadata refresh pass failed; will retry");
        }
    });
}

/// Warns of IdP certificates about to expire, on every instance (each
/// warning is recorded once, whichever instance gets there first).
fn spawn_certificate_expiry_job(state: AppState) {
    let every = Duration::from_secs(state.config.saml.certificate_check_seconds.max(1));
    spawn_every(every, state, |state| async move {
        match crate::integrations::warn_expiring_certificates(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(warnings = n, "IdP signing certificates expire soon"),
            Err(e) => tracing::warn!(error = %e, "certificate expiry check failed; will retry"),
        }
    });
}

/// Looks verified domains up again, on every instance (a domain checked by
/// one is not due for the others).
fn spawn_domain_recheck_job(state: AppState) {
    let every = Duration::from_secs(state.config.dns.recheck_interval_seconds.clamp(1, 300));
    spawn_every(every, state, |state| async move {
        let dns = &state.config.dns;
        match crate::provisioning::recheck_verified_domains(&state.store, &state.dns, dns).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                lost = n,
                "domains lost their verification (TXT record gone past the grace period)"
            ),
            Err(e) => tracing::warn!(error = %e, "domain re-check failed; will retry"),
        }
    });
}

/// Removes teams whose restore window has passed, and audit rows and events
/// past their retention, on every instance (the deletes are idempotent, so
/// instances need no coordination).
fn spawn_purge_job(state: AppState) {
    let every = Duration::from_secs(state.config.provisioning.purge_interval_seconds);
    spawn_every(every, state, |state| async move {
        let retention = state.config.provisioning.deleted_team_retention_days;
        match crate::provisioning::purge_expired_teams(&state.store, retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged deleted teams past retention"),
            Err(e) => tracing::warn!(error = %e, "team purge failed; will retry"),
        }
        let store = &state.store;
        let audit_cutoff = days_ago(state.config.audit.retention_days);
        purge_in_batches("audit rows", |batch| {
            store.delete_audit_before(audit_cutoff, batch)
        })
        .await;
        let events_cutoff = days_ago(state.config.events.retention_days);
        purge_in_batches("events", |batch| {
            store.delete_events_before(events_cutoff, batch)
        })
        .await;
        purge_in_batches("webhook deliveries", |batch| {
            store.delete_deliveries_before(events_cutoff, batch)
        })
        .await;
    });
}

fn days_ago(days: u32) -> i64 {
    crate::store::now_ms() - i64::from(days) * 86_400_000
}

/// Rows one purge statement removes: short enough that SQLite's writer (and
/// PostgreSQL's locks) are held for milliseconds, so sign-ins and SCIM
/// writes slip in between batches.
const PURGE_BATCH: i64 = 2_000;

async fn purge_in_batches<F, Fut>(what: &str, mut delete: F)
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = crate::store::StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        match delete(PURGE_BATCH).await {
            Ok(n) => {
                total += n;
                if n < PURGE_BATCH as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "retention purge failed; will retry");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, what, "dropped rows past retention");
    }
}
