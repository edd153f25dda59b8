//! HTTP: routes, input parsing, the response envelope and the one error mapping.
//!
//! Every platform endpoint answers `{"code", "data", "message"}`; unknown paths and wrong
//! methods too (JSON 404/405), and requests the HTTP parser refuses before any handler
//! ([`connection`], [`server`]). Read-only calls accept GET with a query string.

pub mod activity;
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

use actix_web::{web, HttpResponse};

pub use error::ApiError;

use crate::activity::ActivityService;
use crate::actors::OrderCenter;

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

/// JSON 404 for unknown paths.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// `GET /metrics`: Prometheus text of what operators watch.
#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus counters",
    responses((status = 200, description = "Prometheus text", body = String, content_type = "text/plain")))]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let center = &state.center;
    let writer = center.store().writer_stats();
    let health = center.store().health();
    let live = center.live_actors().await.unwrap_or(0);
    let poller = center.poller_stats().await.unwrap_or_default();
    let body = format!(
        "# TYPE ordercenter_ready gauge\nordercenter_ready {}\n\
         # TYPE ordercenter_live_order_actors gauge\nordercenter_live_order_actors {live}\n\
         # TYPE ordercenter_store_flushes_total counter\nordercenter_store_flushes_total {}\n\
         # TYPE ordercenter_store_durable_writes_total counter\nordercenter_store_durable_writes_total {}\n\
         # TYPE ordercenter_store_flush_seconds_total counter\nordercenter_store_flush_seconds_total {:.6}\n\
         # TYPE ordercenter_store_apply_seconds_total counter\nordercenter_store_apply_seconds_total {:.6}\n\
         # TYPE ordercenter_poller_watched gauge\nordercenter_poller_watched {}\n\
         # TYPE ordercenter_poller_queries_total counter\nordercenter_poller_queries_total {}\n\
         # TYPE ordercenter_poller_confirmed_total counter\nordercenter_poller_confirmed_total {}\n\
         # TYPE ordercenter_order_provider_calls_peak gauge\nordercenter_order_provider_calls_peak {}\n\
         # TYPE ordercenter_orders_needing_attention_total counter\nordercenter_orders_needing_attention_total {}\n\
         # TYPE ordercenter_provider_close_refusals_total counter\nordercenter_provider_close_refusals_total {}\n\
         # TYPE ordercenter_storage_writable gauge\nordercenter_storage_writable {}\n\
         # TYPE ordercenter_storage_broken gauge\nordercenter_storage_broken {}\n\
         # TYPE ordercenter_storage_free_bytes gauge\nordercenter_storage_free_bytes {}\n\
         # TYPE ordercenter_storage_refused_writes_total counter\nordercenter_storage_refused_writes_total {}\n",
        u8::from(readiness(&state).is_ok()),
        writer.flushes.load(Relaxed),
        writer.writes.load(Relaxed),
        writer.flush_micros.load(Relaxed) as f64 / 1e6,
        writer.apply_micros.load(Relaxed) as f64 / 1e6,
        poller.watched,
        poller.queries,
        poller.confirmed,
        center.provider_calls_peak(),
        center.needing_attention(),
        center.close_refusals(),
        u8::from(health.is_writable()),
        u8::from(health.is_broken()),
        health.free_bytes(),
        health.refused(),
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
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
