//! The API as a document: OpenAPI 3.1 at `GET /openapi.json`, rendered at `/docs/` by the
//! Swagger UI compiled into the binary (`utoipa-swagger-ui`'s `vendored` files; nothing is
//! fetched at build or run time).
//!
//! Generated from the code: each handler carries its `#[utoipa::path]` (method, path, fields,
//! the `data` it answers), [`schemas`] describes the shapes, and this module adds what is
//! common to every endpoint: the `application/json` twin of every form body, the error
//! responses with the real envelopes of [`ApiError`] (so the codes and messages are the
//! ones the service answers), and the seed's own samples as examples.
//! `tests/api/openapi.rs` checks that every mounted route is documented, that every
//! documented path answers, and that the documented shapes are the real ones.

mod refusals;
mod requests;
mod responses;
mod samples;

/// The document's request and response shapes. The handlers read their input through
/// [`Fields`](crate::http::input::Fields) and write the views of [`crate::http::views`], so
/// these types only describe them: `tests/api/openapi.rs` checks every documented response
/// against what the service really answers (same keys, same JSON types), so the two cannot
/// drift apart.
///
/// Every request takes `application/x-www-form-urlencoded` (the seed's samples) or
/// `application/json`; JSON-valued fields (`handle_info`, `extend_field`, `apply_info`) are
/// strings in a form and a string or an object in JSON; numbers may be numeric strings.
pub mod schemas {
    pub use super::requests::*;
    pub use super::responses::*;
}

use std::borrow::Cow;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse, ResponseError};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

use super::error::{ApiError, Token};
use refusals::{catalogue, Refusals};
use samples::SeedSamples;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ordercenter",
        description = "Order center for paid activity registrations behind a WeChat mini-program.",
    ),
    paths(
        super::activity::detail,
        super::activity::apply,
        super::activity::apply_info,
        super::activity::cancel_apply,
        super::orders::create,
        super::payment::pay,
        super::orders::state,
        super::orders::detail,
        super::orders::list,
        super::orders::cancel,
        super::orders::refund,
        super::orders::admin_refund,
        super::activity::save,
        super::activity::apply_order_create,
        super::activity::apply_order_notify,
        super::activity::apply_order_refund_deadline,
        super::payment::notify,
        super::healthz,
        super::readyz,
        super::metrics,
        super::admin::order,
        super::admin::backup,
        super::admin::reconcile,
        super::demo::index,
        super::demo::script,
        super::demo::style,
        openapi_json,
        docs_home,
        docs_file,
    ),
    components(schemas(schemas::ErrorEnvelope, schemas::PendingOrderData)),
    modifiers(&WireConventions, &Refusals, &SeedSamples),
    tags(
        (name = "activity", description = "活动平台 — the business subsystem 3001: activities, seats, applies"),
        (name = "order", description = "订单中心 — create, pay, poll, cancel"),
        (name = "subsystem", description = "Called by the order center (internal token)"),
        (name = "provider", description = "The payment provider calls us"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "demo", description = "The demo page and this document"),
        (name = "paysim", description = "The payment simulator: play the buyer, faults (only while it is enabled)"),
        (name = "ums", description = "The simulator's side of the UMS open-platform protocol (OPEN-BODY-SIG)"),
    )
)]
struct ApiDoc;

/// The whole document, serialized once.
pub fn document() -> &'static Result<Vec<u8>, String> {
    static DOCUMENT: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut api = ApiDoc::openapi();
        api.merge(crate::paysim::doc::openapi());
        name_operations(&mut api);
        serde_json::to_vec(&api).map_err(|e| e.to_string())
    })
}

/// Mounts `/openapi.json`, `/docs` and `/docs/…` (GET; other methods get the JSON 405).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(web::to(super::method_not_allowed)),
    );
    cfg.service(
        web::resource("/docs")
            .route(web::get().to(docs_home))
            .default_service(web::to(super::method_not_allowed)),
    );
    cfg.service(
        web::resource("/docs/{file:.*}")
            .route(web::get().to(docs_file))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "demo", summary = "This document (OpenAPI 3.1)",
    responses((status = 200, description = "The document", content_type = "application/json")))]
async fn openapi_json() -> Result<HttpResponse, ApiError> {
    match document() {
        Ok(bytes) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(bytes.clone())),
        Err(cause) => Err(ApiError::Internal(format!("openapi document: {cause}"))),
    }
}

/// `GET /docs`: the viewer lives at `/docs/` (its files are relative to it).
#[utoipa::path(get, path = "/docs", tag = "demo", summary = "→ /docs/",
    responses((status = 308, description = "Redirect to /docs/")))]
async fn docs_home() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// `GET /docs/{file}`: the Swagger UI, reading `/openapi.json`.
#[utoipa::path(get, path = "/docs/{file}", tag = "demo",
    summary = "接口文档 — this document rendered (Swagger UI, files in the binary)",
    params(("file" = String, Path, description = "Empty for the page, else one of its files")),
    responses(
        (status = 200, description = "The page or one of its files"),
        (status = 404, description = "No such file", body = schemas::ErrorEnvelope)))]
async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = utoipa_swagger_ui::Config::new(["/openapi.json"])
        .use_base_layout()
        .validator_url("none")
        .try_it_out_enabled(true)
        .display_request_duration(true)
        .doc_expansion("list");
    match utoipa_swagger_ui::serve(&file, std::sync::Arc::new(config)) {
        Ok(Some(found)) => {
            // The files are static (1.5 MB of script): no copy but the initializer's.
            let body = match found.bytes {
                Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
                Cow::Owned(bytes) => web::Bytes::from(bytes),
            };
            Ok(HttpResponse::Ok()
                .content_type(found.content_type)
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(body))
        }
        Ok(None) => Err(ApiError::NoRoute),
        Err(cause) => Err(ApiError::Internal(format!("swagger ui: {cause}"))),
    }
}

// ---- the wire conventions -----------------------------------------------------------------

/// Every form body also takes JSON; the security schemes; the conventions and the table of
/// business codes in the description.
struct WireConventions;

impl Modify for WireConventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        api.info.description = Some(description());
        let components = api.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(format!(
                        "`Authorization: Bearer …` (or the `{what}` field)"
                    )))
                    .build(),
            )
        };
        components.add_security_scheme("admin_token", bearer(Token::Admin.field()));
        components.add_security_scheme("internal_token", bearer(Token::Internal.field()));
        components.add_security_scheme(
            "open_body_sig",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`OPEN-BODY-SIG AppId=\"…\", Timestamp=\"yyyyMMddHHmmss\", Nonce=\"…\", \
                 Signature=\"…\"`; Signature = base64(HMAC-SHA256(AppKey, AppId + Timestamp + \
                 Nonce + hex(SHA256(body))))",
            ))),
        );
        for operation in operations(api) {
            let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                continue;
            };
            if let Some(form) = body.content.get(FORM).cloned() {
                body.content.entry(JSON.to_owned()).or_insert(form);
            }
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn description() -> String {
    let mut text = String::from(
        "订单中心 — the order center for paid activity registrations (活动报名) behind a WeChat \
         mini-program, with its activity platform and a payment simulator. The flow: \
         `wxActivity/apply` → `shop/order/create` → `shop/order/pay` (then `wx.requestPayment`) \
         → poll `shop/order/state` once a second until `transaction_status` is `\"1\"` → 报名成功. \
         The demo page at `/` plays it in a browser.\n\n\
         **Requests**: `POST` with `application/x-www-form-urlencoded` (as the seed's samples) or \
         `application/json`; read-only calls also take `GET` with a query string. Fields holding \
         JSON (`handle_info`, `extend_field`, `apply_info`) are strings in a form, a string or an \
         object in JSON; numbers may be numeric strings. The gateway in front supplies \
         `company_id`/`member_id`; every call on an order must come from its owner, otherwise it \
         is answered as if the order did not exist.\n\n\
         **Answers**: `{\"code\", \"data\", \"message\"}` — success is HTTP 200, `code` 200, \
         `message` `SUCCESS`; a failure has the matching HTTP status, a stable business `code` \
         and a message for the user (Chinese, naming the field for validation errors). Prices \
         are yuan as the shortest number (`0.01`, `12.5`); the pay response's `price` is fen as \
         a string. Times are Unix seconds or `YYYY-MM-DD HH:MM:SS` (UTC+8). Not in the envelope: \
         `/v1/netpay/*` (UMS), `/trade/notify/ums` (`SUCCESS`/`FAILED`), `/metrics`, `/healthz`, \
         `/readyz`, `/paysim/*` and the HTML pages.\n\n\
         | code | HTTP | meaning | message |\n| --- | --- | --- | --- |\n",
    );
    let mut seen = Vec::new();
    for refusal in catalogue() {
        if seen.contains(&refusal.name) {
            continue;
        }
        seen.push(refusal.name);
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            refusal.error.code(),
            refusal.error.status_code().as_u16(),
            refusal.meaning,
            refusal.error.user_message().replace('|', "\\|"),
        ));
    }
    text
}

/// `operationId` from the method and the path (`post_shop_order_create`): unique, where the
/// handlers' names are not (`detail`, `pay`) and a GET-and-POST handler is one operation.
fn name_operations(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let slug: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let slug = slug.trim_matches('_');
        let methods = [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("delete", item.delete.as_mut()),
            ("head", item.head.as_mut()),
            ("patch", item.patch.as_mut()),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                let name = if slug.is_empty() {
                    format!("{method}_index")
                } else {
                    format!("{method}_{slug}")
                };
                operation.operation_id = Some(name);
            }
        }
    }
}

fn operations(api: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    api.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.head.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_builds_and_names_every_business_code_of_the_spec() {
        let document = document().as_ref().expect("document serializes");
        let text = std::str::from_utf8(document).expect("utf-8");
        for code in [
            4000000001u64,
            4001009999,
            4030000001,
            4040000001,
            4040000002,
            4090000001,
            4090000002,
            4090000003,
            4090000004,
            4090000005,
            4010000000,
            4040000000,
            4050000000,
            4130000000,
            4150000000,
            5020000001,
            5020000002,
            5030000000,
            5000000000,
        ] {
            assert!(text.contains(&format!("| {code} |")), "{code} missing");
        }
    }
}
