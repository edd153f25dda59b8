//! The response envelope `{"code", "data", "message"}` of every platform endpoint.

use actix_web::HttpResponse;
use serde::Serialize;

/// `{"code": …, "data": …, "message": …}` (also the envelope of the API document,
/// `GET /openapi.json`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T = serde_json::Value> {
    /// 200 or a business code.
    pub code: u64,
    /// The payload, or `null`.
    pub data: T,
    /// `SUCCESS` or what went wrong.
    pub message: String,
}

/// HTTP 200 with `code` 200, `message` `SUCCESS`.
pub fn success(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        code: 200,
        data,
        message: "SUCCESS".into(),
    })
}
