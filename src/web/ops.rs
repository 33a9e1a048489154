//! Operations endpoints for load balancers and Prometheus.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// The process is up.
#[utoipa::path(responses((status = 200, description = "process up")), tag = "operations")]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The store and the cache answer; 503 names the one that does not.
#[utoipa::path(responses((status = 200, description = "ready"), (status = 503, description = "store or cache unreachable")), tag = "operations")]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (store, cache) = tokio::join!(state.store.ping(), state.cache.ping());
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = json!({
        "status": if store && cache { "ready" } else { "not_ready" },
        "store": word(store),
        "cache": word(cache),
    });
    if store && cache {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(responses((status = 200, description = "Prometheus text format")), tag = "operations")]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            HttpResponse::InternalServerError().body("cannot encode the metrics")
        }
    }
}
