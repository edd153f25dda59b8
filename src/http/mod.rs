//! HTTP: routes, input parsing, the response envelope and the one error mapping.
//!
//! Every platform endpoint answers `{"code", "data", "message"}`; unknown paths and wrong
//! methods too (JSON 404/405), and requests the HTTP parser refuses before any handler
//! ([`connection`], [`server`]). Read-only calls accept GET with a query string.

pub mod activity;
pub mod admin;
pub mod connection;
pub mod demo;
pub mod envelope;
pub mod error;
pub mod input;
pub mod openapi;
pub mod orders;
pub mod payment;
pub mod server;
pub mod views;

use std::sync::Arc;

use actix_web::{web, HttpResponse};

pub use error::ApiError;

use crate::activity::ActivityService;
use crate::actors::OrderCenter;
use crate::metrics::{status_class, Metrics, RequestLabels, Sample};
use crate::store::outbox::OutboxStore;

/// What handlers share.
pub struct AppState {
    /// The order center's API.
    pub center: OrderCenter,
    /// The co-located activity platform.
    pub activity: ActivityService,
    /// Token for admin calls, when configured.
    pub admin_token: Option<String>,
    /// Token for the order center's calls to the activity platform, when configured.
    pub internal_token: Option<String>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Where `POST /admin/backup` writes its copies.
    pub backup_dir: std::path::PathBuf,
    /// Held while a backup runs (one at a time).
    pub backing_up: tokio::sync::Mutex<()>,
}

/// Mounts every platform route, the demo page (`/`) and the API document (`/openapi.json`,
/// `/docs/`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    post_only(cfg, "/shop/order/create", orders::create);
    post_only(cfg, "/shop/order/cancel", orders::cancel);
    post_only(cfg, "/shop/order/pay", payment::pay);
    post_only(cfg, "/shop/order/refund", orders::refund);
    post_only(cfg, "/shop/order/adminRefund", orders::admin_refund);
    read_only(cfg, "/shop/order/state", orders::state);
    read_only(cfg, "/shop/order/detail", orders::detail);
    read_only(cfg, "/shop/order/list", orders::list);
    post_only(cfg, "/activityPlatform/activity/save", activity::save);
    post_only(cfg, "/activityPlatform/wxActivity/apply", activity::apply);
    post_only(
        cfg,
        "/activityPlatform/wxActivity/cancelApply",
        activity::cancel_apply,
    );
    read_only(cfg, "/activityPlatform/wxActivity/detail", activity::detail);
    read_only(
        cfg,
        "/activityPlatform/wxActivity/applyInfo",
        activity::apply_info,
    );
    post_only(
        cfg,
        "/activityPlatform/activity/applyOrderCreate",
        activity::apply_order_create,
    );
    post_only(
        cfg,
        "/activityPlatform/activity/applyOrderNotify",
        activity::apply_order_notify,
    );
    post_only(
        cfg,
        "/activityPlatform/activity/applyOrderRefundDeadline",
        activity::apply_order_refund_deadline,
    );
    cfg.service(
        web::resource("/trade/notify/ums")
            .route(web::post().to(payment::notify))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/admin/orders/{parent_order_no}")
            .route(web::get().to(admin::order))
            .default_service(web::to(method_not_allowed)),
    );
    post_only(cfg, "/admin/backup", admin::backup);
    post_only(cfg, "/admin/reconcile", admin::reconcile);
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(web::to(method_not_allowed)),
    );
    // Last: actix tries resources in order, and the document's `/docs/{file:.*}` is a
    // pattern match that every request listed after it would pay for.
    demo::configure(cfg);
    openapi::configure(cfg);
}

fn post_only<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    cfg.service(
        web::resource(path)
            .route(web::post().to(handler))
            .default_service(web::to(method_not_allowed)),
    );
}

fn read_only<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    cfg.service(
        web::resource(path)
            .route(web::get().to(handler.clone()))
            .route(web::post().to(handler))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Middleware: counts every answered request and its latency by route pattern (so the
/// labels stay few: an unknown path is `unmatched`), method and status class.
pub async fn observe(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.http.clone());
    let method = request.method().as_str().to_owned();
    let answered = next.call(request).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &answered {
            Ok(response) => (
                response.request().match_pattern(),
                response.status().as_u16(),
            ),
            Err(error) => (None, error.as_response_error().status_code().as_u16()),
        };
        metrics.record(
            RequestLabels {
                route: route.unwrap_or_else(|| "unmatched".to_owned()),
                method,
                status: status_class(status),
            },
            started.elapsed(),
        );
    }
    answered
}

/// JSON 404 for unknown paths.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Most outbox entries counted for `ordercenter_outbox_backlog` at one scrape (sled counts
/// by walking the tree); a backlog this large reads as this number.
const OUTBOX_COUNT_LIMIT: usize = 100_000;

/// `GET /metrics`: the Prometheus text of [`Metrics`], with the values sampled now.
#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus (OpenMetrics) text", body = String, content_type = "application/openmetrics-text")))]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let center = &state.center;
    let health = center.store().health();
    let poller = center.poller_stats().await.unwrap_or_default();
    let outbox = match OutboxStore::open(center.store()) {
        Ok(outbox) => center
            .store()
            .blocking(move || outbox.backlog(OUTBOX_COUNT_LIMIT))
            .await
            .ok(),
        Err(_) => None,
    };
    let (outbox_backlog, oldest) = outbox.unwrap_or_else(|| {
        tracing::error!("the outbox could not be read for /metrics");
        (0, None)
    });
    let now = crate::domain::time::now_secs();
    let sample = Sample {
        ready: readiness(&state).is_ok(),
        live_order_actors: center.live_actors().await.unwrap_or(0) as u64,
        poller_watched: poller.watched as u64,
        poller_queries: poller.queries,
        poller_confirmed: poller.confirmed,
        provider_calls_peak: center.provider_calls_peak() as u64,
        needing_attention: center.needing_attention(),
        close_refusals: center.close_refusals(),
        storage_writable: health.is_writable(),
        storage_broken: health.is_broken(),
        storage_free_bytes: health.free_bytes(),
        storage_refused_writes: health.refused(),
        outbox_backlog,
        outbox_oldest_age_secs: oldest.map_or(0, |at| now.saturating_sub(at)),
    };
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(sample))
}

/// `GET /healthz`: the process is up and can still work. A store that failed a write cannot
/// write again in this process (see [`crate::store::health`]): the process is half-alive, so
/// liveness fails and a supervisor may restart it (it also exits by itself once the disk
/// has space). A nearly full disk only makes it not ready: a restart would not help.
#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Alive (503 once the store failed a write)",
    responses((status = 200, body = String, example = "ok"), (status = 503, body = String, example = "storage failed")))]
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.center.store().health().is_broken() {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("storage failed");
    }
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Whether orders are accepted: recovery finished and the store takes writes (a full disk
/// or a failed store is never reported ready).
fn readiness(state: &AppState) -> Result<(), String> {
    if !state.center.is_ready() {
        return Err("recovering".into());
    }
    match state.center.store().health().refusal() {
        Some(refusal) => Err(refusal.to_string()),
        None => Ok(()),
    }
}

/// `GET /readyz`: recovery finished, orders are accepted and the store takes writes.
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Ready: recovery finished, the store takes writes",
    responses((status = 200, body = String, example = "ready"), (status = 503, description = "Why not", body = String, example = "recovering")))]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match readiness(&state) {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(why) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(why),
    }
}
