//! What a person or a test needs around the protocol: play the buyer (`POST /paysim/pay`,
//! the checkout page), play the merchant's console (`POST /paysim/console-refund`: a refund
//! made outside the API, as a person does in the provider's merchant portal), fetch the
//! public key, change faults at run time, and read call statistics (`GET /paysim/stats`).

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::machine::{self, PayRefusal};
use super::{PayError, PaySim};
use crate::provider::time::format_china;
use crate::store::paysim::SimStatus;

/// Mounts the `/paysim/*` endpoints.
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/paysim/pay", web::post().to(pay))
        .route("/paysim/public-key", web::get().to(public_key))
        .route("/paysim/checkout", web::get().to(checkout))
        .route("/paysim/faults", web::get().to(get_faults))
        .route("/paysim/faults", web::post().to(set_faults))
        .route("/paysim/console-refund", web::post().to(console_refund))
        .route("/paysim/stats", web::get().to(stats));
}

/// The merchant refunds the whole order in the provider's console: refund id
/// `merOrderId` + `C`, never subject to faults. 200 with the refund, 409 when the order is
/// not paid (nothing refunded), 404 if unknown.
#[utoipa::path(post, path = "/paysim/console-refund", tag = "paysim",
    summary = "The merchant refunds in the provider's console (outside the API)",
    request_body(content = super::doc::MerOrder, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Refunded"), (status = 404, description = "Unknown order"),
        (status = 409, description = "Not paid: nothing refunded")))]
async fn console_refund(
    sim: web::Data<PaySim>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(mer_order_id) = pay_form(&req, &body)
        .mer_order_id
        .filter(|id| !id.trim().is_empty())
    else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "merOrderId 不能为空",
        );
    };
    let mer_order_id = mer_order_id.trim().to_owned();
    let order = match sim.store().order(&mer_order_id).await {
        Ok(Some(order)) => order,
        Ok(None) => return refusal(StatusCode::NOT_FOUND, "NO_ORDER", "无法找到指定的订单"),
        Err(error) => return internal(error),
    };
    let ask = machine::RefundAsk {
        refund_order_id: format!("{mer_order_id}C"),
        amount: order.total_amount,
        processing_ms: None,
        refund_target_order_id: format!("50300{}", super::ops::digits(24)),
    };
    let now_ms = crate::provider::time::now_unix_ms();
    let refunded = sim
        .store()
        .update(&mer_order_id, move |current| {
            machine::refund(current, ask, now_ms)
        })
        .await;
    match refunded {
        Ok(Ok((order, refund))) => HttpResponse::Ok().json(json!({
            "merOrderId": order.mer_order_id,
            "status": machine::trade_status(order.status).as_str(),
            "refundOrderId": refund.refund_order_id,
            "refundAmount": refund.amount,
        })),
        Ok(Err(refused)) => refusal(StatusCode::CONFLICT, refused.code, &refused.message),
        Err(error) => internal(error),
    }
}

/// `GET /paysim/stats`: the most protocol calls in flight at once so far, and how many were
/// made, by path.
#[utoipa::path(get, path = "/paysim/stats", tag = "paysim", summary = "Protocol calls by path: most in flight at once, and how many in all",
    responses((status = 200, description = "`{\"in_flight_peak\": {path: n}, \"calls\": {path: n}}`")))]
async fn stats(sim: web::Data<PaySim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "in_flight_peak": sim.call_peaks(),
        "calls": sim.call_totals(),
    }))
}

#[derive(Debug, Default, Deserialize)]
struct PayForm {
    #[serde(
        rename = "merOrderId",
        alias = "mer_order_id",
        alias = "parent_order_no"
    )]
    mer_order_id: Option<String>,
    prepay_id: Option<String>,
}

/// Reads the order to pay from a JSON body, a form body or the query string.
fn pay_form(req: &HttpRequest, body: &[u8]) -> PayForm {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let from_body = if is_json {
        serde_json::from_slice(body).ok()
    } else {
        serde_urlencoded::from_bytes(body).ok()
    };
    let form: PayForm = from_body.unwrap_or_default();
    if form.mer_order_id.is_some() || form.prepay_id.is_some() {
        return form;
    }
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

/// The simulated buyer pays: 200 with the payment, 409 if the order is closed, expired or
/// already paid (nothing is charged), 404 if unknown, 400 without an order id.
#[utoipa::path(post, path = "/paysim/pay", tag = "paysim",
    summary = "Play the buyer: pay an open payment (merOrderId or prepay_id)",
    description = "The notify is then sent unless faults drop it. Also reads a JSON body or the query string.",
    request_body(content = super::doc::BuyerPays, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Paid: `merOrderId`, `status`, `totalAmount`, `payTime`, `targetOrderId`"),
        (status = 400, description = "No order id"), (status = 404, description = "Unknown order"),
        (status = 409, description = "Closed, expired or already paid: nothing charged")))]
async fn pay(sim: web::Data<PaySim>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = pay_form(&req, &body);
    let mer_order_id = match (form.mer_order_id, form.prepay_id) {
        (Some(id), _) if !id.trim().is_empty() => id.trim().to_owned(),
        (_, Some(prepay_id)) => match sim.store().order_by_prepay(prepay_id.trim()).await {
            Ok(Some(order)) => order.mer_order_id,
            Ok(None) => return refusal(StatusCode::NOT_FOUND, "NO_ORDER", "无法找到指定的订单"),
            Err(error) => return internal(error),
        },
        _ => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "merOrderId 不能为空",
            )
        }
    };
    match sim.pay(&mer_order_id).await {
        Ok(order) => HttpResponse::Ok().json(json!({
            "merOrderId": order.mer_order_id,
            "status": machine::trade_status(order.status).as_str(),
            "totalAmount": order.total_amount,
            "payTime": order.paid_at.map(format_china),
            "targetOrderId": order.target_order_id,
        })),
        Err(PayError::Refused(PayRefusal::NoOrder)) => {
            refusal(StatusCode::NOT_FOUND, "NO_ORDER", "无法找到指定的订单")
        }
        Err(PayError::Refused(PayRefusal::Closed)) => refusal(
            StatusCode::CONFLICT,
            "ORDER_CLOSED",
            "订单已关闭或已过期，未扣款",
        ),
        Err(PayError::Refused(PayRefusal::AlreadyPaid)) => {
            refusal(StatusCode::CONFLICT, "ORDER_PAID", "订单已支付，未重复扣款")
        }
        Err(PayError::Store(error)) => internal(error),
    }
}

fn refusal(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"errCode": code, "errMsg": message}))
}

fn internal(error: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(%error, "paysim: buyer endpoint failed");
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "系统内部错误",
    )
}

/// `GET /paysim/public-key`: verifies `pay_sign`.
#[utoipa::path(get, path = "/paysim/public-key", tag = "paysim", summary = "The RSA public key (PEM) that verifies pay_sign",
    responses((status = 200, description = "PEM", content_type = "application/x-pem-file")))]
async fn public_key(sim: web::Data<PaySim>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(sim.public_key_pem().to_owned())
}

#[derive(Deserialize)]
struct CheckoutQuery {
    prepay_id: Option<String>,
}

/// A stand-in for WeChat's payment sheet: the amount and a Pay button
/// (`data-testid="checkout-pay"`; the demo page opens it where `wx.requestPayment` would be).
#[utoipa::path(get, path = "/paysim/checkout", tag = "paysim",
    summary = "Checkout page: the amount and a Pay button (stand-in for WeChat's payment sheet)",
    params(("prepay_id" = String, Query, description = "From shop/order/pay")),
    responses((status = 200, description = "HTML page", content_type = "text/html"),
        (status = 404, description = "Unknown prepay_id (HTML page)", content_type = "text/html")))]
async fn checkout(sim: web::Data<PaySim>, query: web::Query<CheckoutQuery>) -> HttpResponse {
    let prepay_id = query.into_inner().prepay_id.unwrap_or_default();
    let order = match sim.store().order_by_prepay(prepay_id.trim()).await {
        Ok(Some(order)) => order,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "<h1>无此预支付单</h1><p>Unknown prepay_id.</p>".into(),
            )
        }
        Err(error) => {
            tracing::error!(%error, "paysim: checkout failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<h1>系统繁忙</h1>".into(),
            );
        }
    };
    let (state, payable) = match order.status {
        SimStatus::WaitBuyerPay => ("待支付 — waiting for payment", true),
        SimStatus::Paid => ("已支付 — paid", false),
        SimStatus::Closed => ("已关闭 — closed", false),
        SimStatus::Refunded => ("已退款 — refunded", false),
    };
    let id = escape(&order.mer_order_id);
    let button = if payable {
        format!(
            "<form method=\"post\" action=\"/paysim/pay\" onsubmit=\"return pay(this)\">\
             <input type=\"hidden\" name=\"merOrderId\" value=\"{id}\">\
             <button type=\"submit\" data-testid=\"checkout-pay\">支付 Pay</button></form>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p>支付金额 Amount</p><h1>¥{amount}</h1><p>订单 Order {id}</p><p>{desc}</p>\
         <p id=\"state\">{state}</p>{button}\
         <script>function pay(f){{var s=document.getElementById('state');\
         f.querySelector('button').disabled=true;\
         fetch(f.action,{{method:'POST',body:new URLSearchParams(new FormData(f))}})\
         .then(r=>r.json().catch(()=>({{}})).then(j=>{{s.textContent=\
         r.ok?'支付成功 — paid':(j.errMsg||('HTTP '+r.status));f.remove();}}))\
         .catch(()=>{{s.textContent='网络错误 — network error';f.querySelector('button').disabled=false;}});\
         return false;}}</script>",
        amount = yuan(order.total_amount),
        desc = escape(order.order_desc.as_deref().unwrap_or("")),
    );
    page(StatusCode::OK, body)
}

/// A phone-sized payment sheet (it opens inside the demo page's sheet too).
const CHECKOUT_CSS: &str = "body{margin:0;padding:20px;text-align:center;color:#191919;\
    font-family:-apple-system,'PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif}\
    h1{font-size:40px;margin:4px 0 12px}p{margin:6px 0;color:#888;font-size:14px;word-break:break-all}\
    #state{margin-top:16px;color:#191919;font-size:15px}\
    button{width:100%;max-width:400px;margin-top:24px;padding:12px;border:0;border-radius:8px;\
    background:#07c160;color:#fff;font-size:17px;font-weight:600;cursor:pointer}button:disabled{background:#b2e8c9}";

fn page(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>paysim checkout</title><link rel=\"icon\" href=\"data:,\"><style>{CHECKOUT_CSS}</style></head>\
             <body>{body}</body></html>"
        ))
}

/// Fen as yuan, the shortest way (`0.01`, `12.5`, `100`).
fn yuan(fen: u64) -> String {
    let (whole, cents) = (fen / 100, fen % 100);
    match cents {
        0 => whole.to_string(),
        c if c % 10 == 0 => format!("{whole}.{}", c / 10),
        c => format!("{whole}.{c:02}"),
    }
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// `GET /paysim/faults`: the faults in force.
#[utoipa::path(get, path = "/paysim/faults", tag = "paysim", summary = "The injected faults in force",
    responses((status = 200, description = "Faults (latency, error rates, dropped notifies, …)")))]
async fn get_faults(sim: web::Data<PaySim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults())
}

/// Applies the given fields over the current faults; 400 naming the problem otherwise.
#[utoipa::path(post, path = "/paysim/faults", tag = "paysim", summary = "Change faults: the given fields over the current ones",
    request_body(content = Object, content_type = "application/json", example = json!({"drop_notify_rate": 1})),
    responses((status = 200, description = "The faults now"), (status = 400, description = "What is wrong")))]
async fn set_faults(sim: web::Data<PaySim>, body: web::Bytes) -> HttpResponse {
    let patch = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(patch) => patch,
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "faults must be JSON",
            )
        }
    };
    match sim.faults().patched(&patch) {
        Ok(faults) => {
            tracing::info!(?faults, "paysim: faults changed");
            sim.set_faults(faults.clone());
            HttpResponse::Ok().json(faults)
        }
        Err(message) => refusal(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_written_the_shortest_way() {
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(1250), "12.5");
        assert_eq!(yuan(10000), "100");
        assert_eq!(yuan(0), "0");
        assert_eq!(yuan(105), "1.05");
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
