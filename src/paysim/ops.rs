//! The five protocol operations: validate, apply the state machine durably, answer as UMS.

use actix_web::web;
use rand::Rng;

use super::machine::{self, RefundAsk, Refusal};
use super::requests::{
    generated_refund_id, given, PlaceRequest, RefundQueryRequest, RefundRequest,
};
use super::PaySim;
use crate::provider::codes;
use crate::provider::sign::{new_nonce, SignType};
use crate::provider::time::{
    china_time, format_china, now_unix, now_unix_ms, parse_china, DATE_TIME,
};
use crate::provider::wire::{
    pay_sign_text, CloseResponse, MiniPayRequest, OrderRequest, QueryResponse, RefundResponse,
    UnifiedOrderResponse,
};
use crate::store::paysim::{SimOrder, SimPrepay, SimRefund, SimStatus};
use crate::store::StoreError;

/// Why an operation did not succeed.
pub(super) enum Failure {
    /// A protocol refusal (HTTP 200 with its `errCode`).
    Refused(Refusal),
    /// The simulator itself failed (HTTP 500, `INTERNAL_ERROR`); the cause is logged.
    Internal(String),
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// A refusal for a malformed or foreign request.
pub(super) fn bad_request(message: impl Into<String>) -> Failure {
    Failure::Refused(Refusal::new(codes::BAD_REQUEST, message))
}

const TARGET_SYS: &str = "WXPay";

pub(super) async fn unified_order(
    sim: &PaySim,
    request: PlaceRequest,
) -> Result<serde_json::Value, Failure> {
    if request.trade_type != "MINI" {
        return Err(bad_request("tradeType 必须为 MINI"));
    }
    if request.sub_app_id.trim().is_empty() || request.sub_open_id.trim().is_empty() {
        return Err(bad_request("subAppId 和 subOpenId 不能为空"));
    }
    // Without a notifyUrl the order is still placed; its payment is only ever queried.
    let notify_url = given(&request.notify_url).unwrap_or_default().to_owned();
    let notify_url_ok = notify_url.is_empty()
        || reqwest::Url::parse(&notify_url)
            .map(|url| matches!(url.scheme(), "http" | "https"))
            .unwrap_or(false);
    if !notify_url_ok {
        return Err(bad_request("notifyUrl 不是有效的 http(s) 地址"));
    }
    let asked_sign = given(&request.sign_type)
        .map(|text| {
            SignType::parse(Some(text)).ok_or_else(|| bad_request("signType 只支持 SHA256 或 MD5"))
        })
        .transpose()?;
    if request.total_amount == 0 {
        return Err(bad_request("totalAmount 必须大于0"));
    }
    let now = now_unix();
    let expire_at = match &request.expire_time {
        None => None,
        Some(text) => {
            let deadline = parse_china(text, DATE_TIME)
                .ok_or_else(|| bad_request("expireTime 格式应为 yyyy-MM-dd HH:mm:ss"))?;
            if deadline < now {
                return Err(bad_request("expireTime 已过"));
            }
            Some(deadline)
        }
    };
    let prepay = new_prepay(sim, &request.sub_app_id, now).await?;
    let candidate = SimOrder {
        mer_order_id: request.mer_order_id.clone(),
        mid: request.mid.clone(),
        tid: request.tid.clone(),
        inst_mid: request.inst_mid.clone(),
        total_amount: request.total_amount,
        status: SimStatus::WaitBuyerPay,
        created_at: now,
        expire_at,
        notify_url,
        sub_open_id: request.sub_open_id.clone(),
        order_desc: request.order_desc.clone(),
        seq_id: digits(11) + "N",
        prepay,
        paid_at: None,
        target_order_id: None,
        closed_at: None,
        refunds: Vec::new(),
    };
    let now_ms = now_unix_ms();
    let order = sim
        .store()
        .update(&request.mer_order_id, move |current| {
            machine::place(current, candidate, now_ms)
        })
        .await??;
    if let Some(sign_type) = asked_sign {
        sim.requested_signs()
            .remember(&order.mer_order_id, sign_type);
    }
    let prepay = &order.prepay;
    to_json(UnifiedOrderResponse {
        err_code: codes::SUCCESS.into(),
        err_msg: None,
        msg_id: request.msg_id,
        response_timestamp: format_china(now_unix()),
        mer_order_id: order.mer_order_id.clone(),
        mid: order.mid.clone(),
        tid: order.tid.clone(),
        seq_id: order.seq_id.clone(),
        status: machine::trade_status(order.status),
        total_amount: order.total_amount,
        target_sys: TARGET_SYS.into(),
        target_status: "SUCCESS|SUCCESS".into(),
        mini_pay_request: MiniPayRequest {
            app_id: prepay.app_id.clone(),
            time_stamp: prepay.time_stamp.clone(),
            nonce_str: prepay.nonce_str.clone(),
            package: format!("prepay_id={}", prepay.prepay_id),
            sign_type: "RSA".into(),
            pay_sign: prepay.pay_sign.clone(),
        },
    })
}

/// A fresh prepay like WeChat's: `wx` + DDHHmmss (China time) + 26 characters, signed.
async fn new_prepay(sim: &PaySim, app_id: &str, now: i64) -> Result<SimPrepay, Failure> {
    let random = new_nonce();
    let prepay_id = format!(
        "wx{}{}0001",
        china_time(now).format("%d%H%M%S"),
        &random[..22]
    );
    let time_stamp = now.to_string();
    let nonce_str = new_nonce();
    let text = pay_sign_text(
        app_id,
        &time_stamp,
        &nonce_str,
        &format!("prepay_id={prepay_id}"),
    );
    let signer = sim.signer();
    let pay_sign = web::block(move || signer.sign(&text))
        .await
        .map_err(|error| Failure::Internal(format!("signing thread failed: {error}")))?;
    Ok(SimPrepay {
        prepay_id,
        app_id: app_id.to_owned(),
        time_stamp,
        nonce_str,
        pay_sign,
    })
}

pub(super) async fn query(
    sim: &PaySim,
    request: OrderRequest,
) -> Result<serde_json::Value, Failure> {
    let now_ms = now_unix_ms();
    let order = sim
        .store()
        .update(&request.mer_order_id, move |current| {
            machine::query(current, now_ms)
        })
        .await??;
    let paid = order.paid_at;
    let refunded = machine::refunded_amount(&order, now_ms);
    to_json(QueryResponse {
        err_code: codes::SUCCESS.into(),
        err_msg: None,
        msg_id: request.msg_id,
        response_timestamp: format_china(now_unix()),
        mer_order_id: order.mer_order_id.clone(),
        status: machine::trade_status(order.status),
        total_amount: Some(order.total_amount),
        buyer_pay_amount: paid.map(|_| order.total_amount),
        refund_amount: (refunded > 0).then_some(refunded),
        pay_time: paid.map(format_china),
        target_order_id: order.target_order_id.clone(),
        target_sys: Some(TARGET_SYS.into()),
        seq_id: Some(order.seq_id.clone()),
    })
}

pub(super) async fn close(
    sim: &PaySim,
    request: OrderRequest,
) -> Result<serde_json::Value, Failure> {
    let now_ms = now_unix_ms();
    let order = sim
        .store()
        .update(&request.mer_order_id, move |current| {
            machine::close(current, now_ms)
        })
        .await??;
    to_json(CloseResponse {
        err_code: codes::SUCCESS.into(),
        err_msg: None,
        msg_id: request.msg_id,
        response_timestamp: format_china(now_unix()),
        mer_order_id: order.mer_order_id,
        status: Some(machine::trade_status(order.status)),
    })
}

pub(super) async fn refund(
    sim: &PaySim,
    request: RefundRequest,
) -> Result<serde_json::Value, Failure> {
    let refund_order_id = match given(&request.refund_order_id) {
        Some(id) if id.len() > 64 => return Err(bad_request("refundOrderId 不超过 64 位")),
        Some(id) => id.to_owned(),
        None => generated_refund_id(&request.mer_order_id),
    };
    if sim.faults().refuse_refunds {
        return Err(Failure::Refused(machine::Refusal::new(
            codes::REFUND_NOT_ALLOWED,
            "商户可退余额不足",
        )));
    }
    let ask = RefundAsk {
        refund_order_id,
        amount: request.refund_amount,
        processing_ms: sim.faults().refund_processing_ms,
        refund_target_order_id: format!("50300{}", digits(24)),
    };
    let now_ms = now_unix_ms();
    let (order, refund) = sim
        .store()
        .update(&request.mer_order_id, move |current| {
            machine::refund(current, ask, now_ms)
        })
        .await??;
    refund_answer(request.msg_id, &order, &refund, now_ms)
}

pub(super) async fn refund_query(
    sim: &PaySim,
    request: RefundQueryRequest,
) -> Result<serde_json::Value, Failure> {
    let now_ms = now_unix_ms();
    let refund_order_id = given(&request.refund_order_id).map(str::to_owned);
    let (order, refund) = sim
        .store()
        .update(&request.mer_order_id, move |current| {
            machine::refund_query(current, refund_order_id.as_deref(), now_ms)
        })
        .await??;
    refund_answer(request.msg_id, &order, &refund, now_ms)
}

fn refund_answer(
    msg_id: String,
    order: &SimOrder,
    refund: &SimRefund,
    now_ms: i64,
) -> Result<serde_json::Value, Failure> {
    let refund_status = machine::refund_status(refund, now_ms);
    let done = refund_status.is_final();
    to_json(RefundResponse {
        err_code: codes::SUCCESS.into(),
        err_msg: None,
        msg_id,
        response_timestamp: format_china(now_unix()),
        mer_order_id: order.mer_order_id.clone(),
        refund_order_id: refund.refund_order_id.clone(),
        refund_status,
        refund_amount: Some(refund.amount),
        total_amount: Some(order.total_amount),
        status: Some(machine::trade_status(order.status)),
        refund_target_order_id: Some(refund.refund_target_order_id.clone()),
        refund_pay_time: done.then(|| format_china(refund.completes_at_ms.div_euclid(1000))),
    })
}

/// `count` random decimal digits (transaction and serial numbers).
pub(super) fn digits(count: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..count)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn to_json<T: serde::Serialize>(answer: T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(answer).map_err(|error| Failure::Internal(error.to_string()))
}
