//! The protocol endpoints, `POST /v1/netpay/*`: what every call goes through before its
//! operation runs (faults, `OPEN-BODY-SIG`, body, merchant checks) and how answers look.
//!
//! Bodies follow UMS, not the order center's envelope: `errCode`/`errMsg` plus the fields of
//! the operation. A refused call is HTTP 200 with its `errCode`; a bad signature is HTTP 401
//! with `errCode` `1000`.

use std::future::Future;
use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use super::faults::{gateway_error, injected_error, roll};
use super::machine::Refusal;
use super::ops::{self, Failure};
use super::requests::{Addressed, PlaceRequest, RefundQueryRequest, RefundRequest};
use super::PaySim;
use crate::provider::client::{
    CLOSE_PATH, QUERY_PATH, REFUND_PATH, REFUND_QUERY_PATH, UNIFIED_ORDER_PATH,
};
use crate::provider::codes;
use crate::provider::sign::OpenBodySig;
use crate::provider::time::{format_china, now_unix, parse_china, COMPACT};
use crate::provider::wire::{ErrorResponse, OrderRequest};

/// Mounts the five operations.
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(UNIFIED_ORDER_PATH, web::post().to(unified_order))
        .route(QUERY_PATH, web::post().to(query))
        .route(CLOSE_PATH, web::post().to(close))
        .route(REFUND_PATH, web::post().to(refund))
        .route(REFUND_QUERY_PATH, web::post().to(refund_query));
}

#[utoipa::path(post, path = "/v1/netpay/wx/unified-order", tag = "ums",
    summary = "Unified order (WeChat mini-program): `merOrderId`, `totalAmount` (fen), `expireTime`, `notifyUrl`, `mid`, `tid`, `instMid` MINIDEFAULT, `subAppId`, `subOpenId`, `tradeType` MINI → `miniPayRequest`",
    request_body(content = super::doc::UnifiedOrder, content_type = "application/json"),
    security(("open_body_sig" = [])),
    responses((status = 200, description = "UMS answer: `errCode` SUCCESS or why not, and the operation's fields"),
        (status = 401, description = "Bad OPEN-BODY-SIG: `errCode` 1000")))]
async fn unified_order(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&sim, &req, &body, |sim, request: PlaceRequest| async move {
        ops::unified_order(&sim, request).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/netpay/query", tag = "ums",
    summary = "Query an order: `merOrderId` → `status` (NEW_ORDER, WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED, TRADE_REFUND), `payTime`, `totalAmount`, `targetOrderId`",
    request_body(content = super::doc::OrderCall, content_type = "application/json"),
    security(("open_body_sig" = [])),
    responses((status = 200, description = "UMS answer: `errCode` SUCCESS or why not, and the operation's fields"),
        (status = 401, description = "Bad OPEN-BODY-SIG: `errCode` 1000")))]
async fn query(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&sim, &req, &body, |sim, request: OrderRequest| async move {
        ops::query(&sim, request).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/netpay/close", tag = "ums",
    summary = "Close an unpaid order: `merOrderId` → `TRADE_CLOSED`; refused once paid",
    request_body(content = super::doc::OrderCall, content_type = "application/json"),
    security(("open_body_sig" = [])),
    responses((status = 200, description = "UMS answer: `errCode` SUCCESS or why not, and the operation's fields"),
        (status = 401, description = "Bad OPEN-BODY-SIG: `errCode` 1000")))]
async fn close(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(&sim, &req, &body, |sim, request: OrderRequest| async move {
        ops::close(&sim, request).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/netpay/refund", tag = "ums",
    summary = "Refund: `merOrderId`, `refundAmount`, `refundOrderId` → `refundStatus` (SUCCESS, PROCESSING, FAIL)",
    request_body(content = super::doc::Refund, content_type = "application/json"),
    security(("open_body_sig" = [])),
    responses((status = 200, description = "UMS answer: `errCode` SUCCESS or why not, and the operation's fields"),
        (status = 401, description = "Bad OPEN-BODY-SIG: `errCode` 1000")))]
async fn refund(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(
        &sim,
        &req,
        &body,
        |sim, request: RefundRequest| async move { ops::refund(&sim, request).await },
    )
    .await
}

#[utoipa::path(post, path = "/v1/netpay/refund-query", tag = "ums",
    summary = "Refund query: `merOrderId`, `refundOrderId` → `refundStatus`",
    request_body(content = super::doc::RefundQuery, content_type = "application/json"),
    security(("open_body_sig" = [])),
    responses((status = 200, description = "UMS answer: `errCode` SUCCESS or why not, and the operation's fields"),
        (status = 401, description = "Bad OPEN-BODY-SIG: `errCode` 1000")))]
async fn refund_query(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    handle(
        &sim,
        &req,
        &body,
        |sim, request: RefundQueryRequest| async move { ops::refund_query(&sim, request).await },
    )
    .await
}

async fn handle<Req, Op, Fut>(sim: &PaySim, req: &HttpRequest, body: &[u8], op: Op) -> HttpResponse
where
    Req: DeserializeOwned + Addressed,
    Op: FnOnce(PaySim, Req) -> Fut,
    Fut: Future<Output = Result<serde_json::Value, Failure>>,
{
    let _in_flight = sim.call_in_flight(req.path());
    let faults = sim.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if roll(faults.error_rate) {
        tracing::debug!(path = req.path(), "paysim: injected error");
        return injected_error();
    }
    if let Err(message) = authenticate(sim, req, body) {
        tracing::debug!(path = req.path(), message, "paysim: signature refused");
        let refusal = Refusal::new(codes::BAD_SIGNATURE, message);
        return refusal_response(StatusCode::UNAUTHORIZED, "", refusal);
    }
    let request: Req = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            let refusal = Refusal::new(codes::BAD_REQUEST, format!("报文格式错误: {error}"));
            return refusal_response(StatusCode::OK, "", refusal);
        }
    };
    let (msg_id, mer_order_id, mid, tid, inst_mid) = request.address();
    let msg_id = msg_id.to_owned();
    let inst_mid_ok = Req::accepts_inst_mid(inst_mid);
    if let Err(refusal) = check_merchant(sim, mer_order_id, mid, tid, inst_mid_ok) {
        return refusal_response(StatusCode::OK, &msg_id, refusal);
    }
    let answer = match op(sim.clone(), request).await {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(Failure::Refused(refusal)) => refusal_response(StatusCode::OK, &msg_id, refusal),
        Err(Failure::Internal(error)) => {
            tracing::error!(path = req.path(), error, "paysim: internal failure");
            let refusal = Refusal::new(codes::INTERNAL_ERROR, "系统内部错误");
            refusal_response(StatusCode::INTERNAL_SERVER_ERROR, &msg_id, refusal)
        }
    };
    if roll(faults.lost_response_rate) {
        tracing::debug!(path = req.path(), "paysim: injected lost response");
        return gateway_error(StatusCode::GATEWAY_TIMEOUT);
    }
    answer
}

fn authenticate(sim: &PaySim, req: &HttpRequest, body: &[u8]) -> Result<(), &'static str> {
    let config = sim.config();
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or("缺少 Authorization")?;
    let sig = OpenBodySig::parse(header).ok_or("Authorization 不是 OPEN-BODY-SIG")?;
    if sig.app_id != config.app_id {
        return Err("AppId 无效");
    }
    let signed_at = parse_china(&sig.timestamp, COMPACT).ok_or("Timestamp 格式错误")?;
    let skew = i64::try_from(config.max_clock_skew.as_secs()).unwrap_or(i64::MAX);
    if now_unix().abs_diff(signed_at) > skew.unsigned_abs() {
        return Err("Timestamp 超出允许范围");
    }
    if !sig.verify(&config.app_key, body) {
        return Err("签名验证失败");
    }
    Ok(())
}

fn check_merchant(
    sim: &PaySim,
    mer_order_id: &str,
    mid: &str,
    tid: &str,
    inst_mid_ok: bool,
) -> Result<(), Refusal> {
    let config = sim.config();
    if mid != config.mid || tid != config.tid {
        return Err(Refusal::new(
            codes::BAD_REQUEST,
            "商户号或终端号与 AppId 不匹配",
        ));
    }
    if !inst_mid_ok {
        return Err(Refusal::new(codes::BAD_REQUEST, "instMid 不支持"));
    }
    let well_formed = (6..=32).contains(&mer_order_id.len())
        && mer_order_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed || !mer_order_id.starts_with(&config.msg_src_id) {
        let message = format!(
            "merOrderId 必须以来源编号 {} 开头，6 到 32 位字母数字",
            config.msg_src_id
        );
        return Err(Refusal::new(codes::BAD_REQUEST, message));
    }
    Ok(())
}

fn refusal_response(status: StatusCode, msg_id: &str, refusal: Refusal) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        err_code: refusal.code.into(),
        err_msg: refusal.message,
        msg_id: msg_id.into(),
        response_timestamp: format_china(now_unix()),
    })
}
