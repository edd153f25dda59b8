//! `/admin/*`: what an operator asks about one order (admin token, as `activity/save`).

use actix_web::{web, HttpResponse};

use super::activity::require_token;
use super::envelope::{success, Envelope};
use super::error::{ApiError, Token};
use super::input::Fields;
use super::openapi::schemas as doc;
use super::views::admin_order_view;
use super::AppState;
use crate::domain::OrderNo;
use crate::workflow::OrderError;

/// `GET /admin/orders/{parent_order_no}` (admin): the order as kept (internal status,
/// owner, payment and refund), the member's detail view, and everything that happened to
/// it, each with its time. The child `order_no` is accepted too. Offline, `ordercenter
/// inspect --data-dir DIR ORDER_NO` prints the same.
#[utoipa::path(get, path = "/admin/orders/{parent_order_no}", tag = "operations",
    summary = "One order and its history (admin)",
    params(("parent_order_no" = String, Path, description = "19 digits: the parent order number (or the child order_no)")),
    security((), ("admin_token" = [])),
    responses((status = 200, description = "The order and its history", body = Envelope<doc::AdminOrderData>)))]
pub async fn order(
    state: web::Data<AppState>,
    number: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Admin, state.admin_token.as_deref(), &fields)?;
    let number = OrderNo::parse(&number)
        .map_err(|_| ApiError::malformed("parent_order_no", "应为 19 位数字"))?;
    match state.center.inspect(number).await? {
        Some(inspected) => Ok(success(admin_order_view(&inspected))),
        None => Err(OrderError::NotFound.into()),
    }
}
