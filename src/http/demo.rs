//! `GET /`: the demo page, an H5 stand-in for the mini-program that plays the seed's flow
//! against the real endpoints (apply → create → pay → the simulator's checkout → poll the
//! state → 报名成功). Plain HTML, CSS and JS compiled into the binary: no build step, no
//! CDN, works offline.
//!
//! Query: `?member_id=` (default 32171, the seed's member; the company is 421) and
//! `?activity_id=` (default 1, the demo activity; a comma-separated list shows several).
//! The page reads them itself, so the server never parses them.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

const INDEX_HTML: &str = include_str!("demo/index.html");
const DEMO_JS: &str = include_str!("demo/demo.js");
const DEMO_CSS: &str = include_str!("demo/demo.css");

/// The page loads only its own files; the checkout sheet is the simulator's same-origin page.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'";

/// Mounts `/` and the page's two assets (GET and HEAD; other methods get the JSON 405).
pub fn configure(cfg: &mut web::ServiceConfig) {
    asset(cfg, "/", index);
    asset(cfg, "/demo/demo.js", script);
    asset(cfg, "/demo/demo.css", style);
}

fn asset(cfg: &mut web::ServiceConfig, path: &str, handler: fn() -> HttpResponse) {
    let handler = move || std::future::ready(handler());
    cfg.service(
        web::resource(path)
            .route(web::get().to(handler))
            .route(web::head().to(handler))
            .default_service(web::to(super::method_not_allowed)),
    );
}

fn respond(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Embedded in the binary: a new build may change them, so revalidate each time.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .body(body)
}

/// `GET /`: the demo page.
#[utoipa::path(
    get,
    path = "/",
    tag = "demo",
    summary = "演示页（H5，按小程序的流程报名、支付）",
    description = "Plays the seed's mini-program flow against the real endpoints: apply, create, \
                   pay, the simulator's checkout where `wx.requestPayment` would open, then polls \
                   the state once a second until 报名成功 or 订单已关闭. Query: `member_id` \
                   (default 32171, company 421), `activity_id` (default 1; `1,2,3` lists several).",
    params(
        ("member_id" = Option<u64>, Query, description = "The member playing the buyer (default 32171)"),
        ("activity_id" = Option<String>, Query, description = "An activity id, or several separated by commas (default 1)"),
    ),
    responses((status = 200, description = "The page", content_type = "text/html"))
)]
pub fn index() -> HttpResponse {
    let mut response = respond("text/html; charset=utf-8", INDEX_HTML);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `GET /demo/demo.js`: the page's script.
#[utoipa::path(get, path = "/demo/demo.js", tag = "demo", summary = "演示页的脚本",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
pub fn script() -> HttpResponse {
    respond("text/javascript; charset=utf-8", DEMO_JS)
}

/// `GET /demo/demo.css`: the page's style sheet.
#[utoipa::path(get, path = "/demo/demo.css", tag = "demo", summary = "演示页的样式",
    responses((status = 200, description = "CSS", content_type = "text/css")))]
pub fn style() -> HttpResponse {
    respond("text/css; charset=utf-8", DEMO_CSS)
}
