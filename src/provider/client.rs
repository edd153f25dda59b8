//! The UMS open-platform client.

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codes;
use super::notify::{check_order, Notify};
use super::sign::{new_nonce, OpenBodySig};
use super::time::{format_china, now_unix};
use super::wire::{
    CloseResponse, OrderRequest, QueryResponse, RefundQueryRequest, RefundRequest, RefundResponse,
    UnifiedOrderRequest, UnifiedOrderResponse,
};
use super::{ProviderConfig, ProviderError};
use crate::metrics::ProviderMetrics;

/// Path of the unified order.
pub const UNIFIED_ORDER_PATH: &str = "/v1/netpay/wx/unified-order";
/// Path of the query.
pub const QUERY_PATH: &str = "/v1/netpay/query";
/// Path of the close.
pub const CLOSE_PATH: &str = "/v1/netpay/close";
/// Path of the refund.
pub const REFUND_PATH: &str = "/v1/netpay/refund";
/// Path of the refund query.
pub const REFUND_QUERY_PATH: &str = "/v1/netpay/refund-query";

/// What the order center asks to be paid.
#[derive(Clone, Debug)]
pub struct UnifiedOrder {
    /// Merchant order id (`parent_order_no`); must start with `msgSrcId`.
    pub mer_order_id: String,
    /// Amount in fen.
    pub total_amount: u64,
    /// The order's deadline, Unix seconds: the provider refuses payment after it.
    pub expire_at: i64,
    /// The payer's openid in the mini-program.
    pub sub_open_id: String,
    /// Description shown to the buyer.
    pub order_desc: Option<String>,
}

/// Client of the UMS open platform for one merchant. Cheap to clone; share one.
#[derive(Clone)]
pub struct UmsClient {
    http: reqwest::Client,
    config: Arc<ProviderConfig>,
    metrics: ProviderMetrics,
}

impl UmsClient {
    /// Builds the client (rustls, the configured timeouts).
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|error| ProviderError::Config(error.to_string()))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            metrics: ProviderMetrics::default(),
        })
    }

    /// The client recording its calls into `metrics` (`/metrics`).
    pub fn with_metrics(mut self, metrics: ProviderMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Places the order at the provider and returns the `wx.requestPayment` parameters.
    /// Repeating it for the same order and amount returns the same prepay.
    #[tracing::instrument(skip_all, fields(mer_order_id = %order.mer_order_id))]
    pub async fn unified_order(
        &self,
        order: &UnifiedOrder,
    ) -> Result<UnifiedOrderResponse, ProviderError> {
        let config = &self.config;
        let request = UnifiedOrderRequest {
            msg_id: new_nonce(),
            request_timestamp: format_china(now_unix()),
            mer_order_id: order.mer_order_id.clone(),
            mid: config.mid.clone(),
            tid: config.tid.clone(),
            inst_mid: config.inst_mid.clone(),
            total_amount: order.total_amount,
            expire_time: Some(format_china(order.expire_at)),
            notify_url: config.notify_url.clone(),
            sub_app_id: config.sub_app_id.clone(),
            sub_open_id: order.sub_open_id.clone(),
            trade_type: "MINI".into(),
            order_desc: order.order_desc.clone(),
        };
        let answer: UnifiedOrderResponse = self.post(UNIFIED_ORDER_PATH, &request).await?;
        check_order(
            &order.mer_order_id,
            order.total_amount,
            &answer.mer_order_id,
            Some(answer.total_amount),
        )?;
        let pay = &answer.mini_pay_request;
        if !pay.package.starts_with("prepay_id=") || pay.pay_sign.is_empty() {
            return Err(ProviderError::BadResponse(
                "miniPayRequest has no prepay_id or paySign".into(),
            ));
        }
        Ok(answer)
    }

    /// Asks the provider for the order's state. The answer is checked to be about this
    /// order; use [`QueryResponse::check`] (or [`UmsClient::query_checked`]) for the amount.
    #[tracing::instrument(skip_all, fields(mer_order_id = %mer_order_id))]
    pub async fn query(&self, mer_order_id: &str) -> Result<QueryResponse, ProviderError> {
        let request = self.order_request(mer_order_id);
        let answer: QueryResponse = self.post(QUERY_PATH, &request).await?;
        check_order(mer_order_id, 0, &answer.mer_order_id, None)?;
        Ok(answer)
    }

    /// [`UmsClient::query`], then checks the amount too.
    pub async fn query_checked(
        &self,
        mer_order_id: &str,
        total_amount: u64,
    ) -> Result<QueryResponse, ProviderError> {
        let answer = self.query(mer_order_id).await?;
        answer.check(mer_order_id, total_amount)?;
        Ok(answer)
    }

    /// Closes an unpaid order so it can no longer be paid. A paid order is refused with
    /// [`codes::ORDER_PAID`] ([`ProviderError::is_order_paid`]); closing twice succeeds.
    #[tracing::instrument(skip_all, fields(mer_order_id = %mer_order_id))]
    pub async fn close(&self, mer_order_id: &str) -> Result<CloseResponse, ProviderError> {
        let request = self.order_request(mer_order_id);
        let answer: CloseResponse = self.post(CLOSE_PATH, &request).await?;
        check_order(mer_order_id, 0, &answer.mer_order_id, None)?;
        Ok(answer)
    }

    /// Refunds `refund_amount` fen of a paid order. `refund_order_id` is the idempotency key:
    /// repeating the call returns the same refund instead of refunding twice. The answer may
    /// be `PROCESSING`; follow it with [`UmsClient::refund_query`].
    #[tracing::instrument(skip_all, fields(mer_order_id = %mer_order_id, refund_order_id = %refund_order_id))]
    pub async fn refund(
        &self,
        mer_order_id: &str,
        refund_order_id: &str,
        refund_amount: u64,
    ) -> Result<RefundResponse, ProviderError> {
        let config = &self.config;
        let request = RefundRequest {
            msg_id: new_nonce(),
            request_timestamp: format_china(now_unix()),
            mer_order_id: mer_order_id.to_owned(),
            mid: config.mid.clone(),
            tid: config.tid.clone(),
            inst_mid: config.inst_mid.clone(),
            refund_amount,
            refund_order_id: refund_order_id.to_owned(),
            refund_desc: None,
        };
        let answer: RefundResponse = self.post(REFUND_PATH, &request).await?;
        check_refund(&answer, mer_order_id, refund_order_id)?;
        Ok(answer)
    }

    /// Asks for the state of a refund.
    #[tracing::instrument(skip_all, fields(mer_order_id = %mer_order_id, refund_order_id = %refund_order_id))]
    pub async fn refund_query(
        &self,
        mer_order_id: &str,
        refund_order_id: &str,
    ) -> Result<RefundResponse, ProviderError> {
        let config = &self.config;
        let request = RefundQueryRequest {
            msg_id: new_nonce(),
            request_timestamp: format_china(now_unix()),
            mer_order_id: mer_order_id.to_owned(),
            mid: config.mid.clone(),
            tid: config.tid.clone(),
            inst_mid: config.inst_mid.clone(),
            refund_order_id: refund_order_id.to_owned(),
        };
        let answer: RefundResponse = self.post(REFUND_QUERY_PATH, &request).await?;
        check_refund(&answer, mer_order_id, refund_order_id)?;
        Ok(answer)
    }

    /// Parses and verifies a notify body with this merchant's communication key. Check the
    /// order and amount with [`Notify::check`] before acting on it.
    pub fn verify_notify(&self, form_body: &[u8]) -> Result<Notify, ProviderError> {
        Notify::parse_form(form_body, &self.config.notify_key)
    }

    fn order_request(&self, mer_order_id: &str) -> OrderRequest {
        OrderRequest {
            msg_id: new_nonce(),
            request_timestamp: format_china(now_unix()),
            mer_order_id: mer_order_id.to_owned(),
            mid: self.config.mid.clone(),
            tid: self.config.tid.clone(),
            inst_mid: self.config.inst_mid.clone(),
        }
    }

    /// Signs and posts `request`, then reads the answer: a UMS body with `errCode`
    /// `SUCCESS` becomes `Resp`, another `errCode` a [`ProviderError::Refused`], anything
    /// else an HTTP or malformed-answer error.
    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, ProviderError> {
        let started = std::time::Instant::now();
        let outcome = self.send(path, request).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(ProviderError::Refused { .. }) => "refused",
            Err(_) => "error",
        };
        self.metrics
            .record(operation_of(path), label, started.elapsed());
        outcome
    }

    async fn send<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, ProviderError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ProviderError::Config(format!("cannot encode request: {error}")))?;
        let authorization = OpenBodySig::sign(&self.config.app_id, &self.config.app_key, &body);
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, authorization.header_value())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport(error))?;
        let outcome = read_answer(status, &bytes);
        match &outcome {
            Ok(_) => tracing::debug!(path, "provider call succeeded"),
            Err(error) => tracing::debug!(path, %error, "provider call failed"),
        }
        outcome
    }

    fn transport(&self, error: reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            ProviderError::Timeout(self.config.timeout)
        } else {
            ProviderError::Transport(error)
        }
    }
}

/// The operation a path names, for `/metrics`.
fn operation_of(path: &str) -> &'static str {
    match path {
        UNIFIED_ORDER_PATH => "unified_order",
        QUERY_PATH => "query",
        CLOSE_PATH => "close",
        REFUND_PATH => "refund",
        REFUND_QUERY_PATH => "refund_query",
        _ => "other",
    }
}

fn read_answer<Resp: DeserializeOwned>(
    status: reqwest::StatusCode,
    bytes: &[u8],
) -> Result<Resp, ProviderError> {
    let http_error = || ProviderError::Http {
        status: status.as_u16(),
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(if status.is_success() {
            ProviderError::BadResponse("answer is not JSON".into())
        } else {
            http_error()
        });
    };
    match value.get("errCode").and_then(serde_json::Value::as_str) {
        None if status.is_success() => {
            Err(ProviderError::BadResponse("answer has no errCode".into()))
        }
        None => Err(http_error()),
        Some(codes::SUCCESS) if status.is_success() => serde_json::from_value(value)
            .map_err(|error| ProviderError::BadResponse(error.to_string())),
        Some(codes::SUCCESS) => Err(http_error()),
        Some(code) => Err(ProviderError::Refused {
            code: code.to_owned(),
            message: value
                .get("errMsg")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
    }
}

fn check_refund(
    answer: &RefundResponse,
    mer_order_id: &str,
    refund_order_id: &str,
) -> Result<(), ProviderError> {
    check_order(mer_order_id, 0, &answer.mer_order_id, None)?;
    if answer.refund_order_id != refund_order_id {
        return Err(ProviderError::Mismatch(format!(
            "expected refund {refund_order_id}, got {}",
            answer.refund_order_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn answers_are_classified() {
        let refused = read_answer::<QueryResponse>(
            StatusCode::OK,
            br#"{"errCode":"NO_ORDER","errMsg":"no such order"}"#,
        );
        assert!(matches!(refused, Err(ref e) if e.is_no_order()));
        let gateway =
            read_answer::<QueryResponse>(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert!(matches!(gateway, Err(ProviderError::Http { status: 502 })));
        let garbage = read_answer::<QueryResponse>(StatusCode::OK, b"SUCCESS");
        assert!(matches!(garbage, Err(ProviderError::BadResponse(_))));
        let incomplete = read_answer::<QueryResponse>(StatusCode::OK, br#"{"errCode":"SUCCESS"}"#);
        assert!(matches!(incomplete, Err(ProviderError::BadResponse(_))));
    }
}
