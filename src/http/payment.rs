//! `shop/order/pay` and the provider's notify receiver `trade/notify/ums`.

use actix_web::{web, HttpResponse};

use super::envelope::success;
use super::error::ApiError;
use super::input::Fields;
use super::orders::{location, member, parent_order_no};
use super::views;
use super::AppState;
use crate::domain::OrderNo;
use crate::workflow::OrderError;

/// UMS WeChat mini-program pay.
const UMS_MINI_PAY: u32 = 110;

/// `POST shop/order/pay`.
#[tracing::instrument(skip_all)]
pub async fn pay(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let parent = parent_order_no(&fields)?;
    let payment_way = fields
        .u64_in("payment_way", 0..=9999)?
        .ok_or_else(|| ApiError::missing("payment_way"))?;
    if payment_way != u64::from(UMS_MINI_PAY) {
        return Err(ApiError::malformed(
            "payment_way",
            "仅支持 110（银联商务微信小程序支付）",
        ));
    }
    fields.json_object_text("extend_field", "{}")?;
    let open_id = fields.optional_text("open_id", 128)?;
    let order = state.center.pay(parent, who, UMS_MINI_PAY, open_id).await?;
    Ok(success(views::pay_view(&order)))
}

/// `POST trade/notify/ums`: the provider's payment notify. Verified (signature, order,
/// amount) before anything changes; answers `SUCCESS`, or `FAILED` with a 4xx.
#[tracing::instrument(skip_all)]
pub async fn notify(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let failed = |status: actix_web::http::StatusCode| {
        HttpResponse::build(status)
            .content_type("text/plain")
            .body("FAILED")
    };
    let notify = match state.center.provider().verify_notify(&body) {
        Ok(notify) => notify,
        Err(error) => {
            tracing::warn!(%error, "notify refused");
            return failed(actix_web::http::StatusCode::BAD_REQUEST);
        }
    };
    let Ok(parent) = OrderNo::parse(&notify.mer_order_id) else {
        return failed(actix_web::http::StatusCode::NOT_FOUND);
    };
    if notify.status != crate::provider::TradeStatus::TradeSuccess {
        tracing::info!(order_no = %parent, status = notify.status.as_str(), "notify without a payment");
        return HttpResponse::Ok()
            .content_type("text/plain")
            .body("SUCCESS");
    }
    let evidence = notify.evidence();
    match state.center.confirm_payment(parent, evidence).await {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("SUCCESS"),
        Err(OrderError::NotFound) => failed(actix_web::http::StatusCode::NOT_FOUND),
        Err(OrderError::Mismatch(reason)) => {
            tracing::warn!(%reason, "notify does not match the order");
            failed(actix_web::http::StatusCode::BAD_REQUEST)
        }
        Err(error) => {
            tracing::error!(%error, "notify could not be applied; the provider will retry");
            failed(actix_web::http::StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}
