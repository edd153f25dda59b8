//! JSON views of orders, field for field as the seed's samples (types included): prices in
//! yuan as shortest numbers, `business_type`/`trade_no`/`order_info` strings, Unix-second
//! times. Keys come out sorted, as in the seed.

use serde_json::{json, Value};

use crate::domain::{time, Fen, Order, OrderStatus};

/// `app_id` of the seed's rows (the mini-program application).
const APP_ID: u64 = 10101;
/// `order_subject` of activity orders.
const ACTIVITY_SUBJECT: &str = "活动报名订单";

fn subject(order: &Order) -> &'static str {
    match order.request.business_type {
        3001 => ACTIVITY_SUBJECT,
        _ => "订单",
    }
}

fn item_view(order: &Order, item: &crate::domain::OrderItem) -> Value {
    let line = item.line_price().yuan_json();
    json!({
        "app_id": APP_ID,
        "back_sku_num": 0,
        "business_id": order.request.business_id,
        "c_time": order.c_time,
        "company_id": order.request.owner.company_id,
        "id": item.id,
        "item_price": item.sku_price.yuan_json(),
        "order_item_no": item.order_item_no,
        "order_no": order.order_no.as_str(),
        "pay_price": line.clone(),
        "refund_status": refund_status(order),
        "sale_price": line,
        "sales_id": order.request.sales_id,
        "sku": item.sku,
        "sku_img": item.sku_img,
        "sku_info": item.sku_info,
        "sku_name": item.sku_name,
        "sku_num": item.sku_num,
        "sku_price": item.sku_price.yuan_json(),
        "sport_tag_id": 0,
        "stadium_id": 0,
        "u_time": order.u_time,
    })
}

fn refund_status(order: &Order) -> u8 {
    u8::from(order.status == OrderStatus::Refunded)
}

fn order_view(order: &Order) -> Value {
    let total = order.total().yuan_json();
    let paid = if order.status == OrderStatus::Paid || order.status == OrderStatus::Refunded {
        order.total()
    } else {
        Fen::ZERO
    };
    json!({
        "app_id": APP_ID,
        "back_subtotal_count": 0,
        "business_id": order.request.business_id,
        "business_type": order.request.business_type.to_string(),
        "c_time": order.c_time,
        "company_id": order.request.owner.company_id,
        "deduct_price": 0,
        "id": order.id,
        "invoice_status": 0,
        "member_id": order.request.owner.member_id,
        "notify_status": 0,
        "notify_url": "",
        "order_from": order.request.order_from,
        "order_info": "",
        "order_no": order.order_no.as_str(),
        "order_price": total.clone(),
        "order_status": order.status.code(),
        "order_subject": subject(order),
        "parent_order_no": order.parent_order_no.as_str(),
        "pay_code_status": 0,
        "pay_price": total.clone(),
        "payment_time": order.payment_time,
        "payment_way1": order.payment_way,
        "payment_way1_price": paid.yuan_json(),
        "payment_way2": 0,
        "payment_way2_price": 0,
        "refund_status": refund_status(order),
        "sale_price": total,
        "sales_id": order.request.sales_id,
        "stadium_id": 0,
        "sys_id": order.request.sys_id,
        "total_count": order.items.iter().map(|i| u64::from(i.sku_num)).sum::<u64>(),
        "trade_cate_id": order.request.sys_id,
        "trade_no": "0",
        "trade_type_id": order.request.business_type,
        "u_time": order.u_time,
    })
}

/// `data` of `shop/order/create`.
pub fn create_view(order: &Order) -> Value {
    json!({
        "list": {
            "extra": { "stadium_name": order.extra.stadium_name, "user_info": order.extra.user_info },
            "item": order.items.iter().map(|item| item_view(order, item)).collect::<Vec<_>>(),
            "order": order_view(order),
        },
        "overdue_time": order.overdue_secs,
        "parent_order_no": order.parent_order_no.as_str(),
        "payment_way": order.payment_way.to_string(),
        "expire_time": order.deadline(),
    })
}

/// `transaction_status` and `transaction_msg` of an order.
fn transaction(order: &Order) -> (&'static str, &'static str) {
    match order.status {
        OrderStatus::Creating | OrderStatus::Unpaid => ("0", "订单未支付"),
        OrderStatus::Paid => ("1", "SUCCESS"),
        OrderStatus::Closed | OrderStatus::Abandoned => ("2", "订单已关闭"),
        OrderStatus::Refunded => ("3", "订单已退款"),
    }
}

/// `data` of `shop/order/state` (and `shop/order/cancel`).
pub fn state_view(order: &Order) -> Value {
    let (status, message) = transaction(order);
    let time_end = if order.payment_time > 0 {
        order.payment_time
    } else {
        order.c_time
    };
    json!({
        "parent_order_no": order.parent_order_no.as_str(),
        "return_msg": "OK",
        "time_end": time::format_china(time_end),
        "total_fee": order.total().yuan_json(),
        "transaction_code": "0",
        "transaction_msg": message,
        "transaction_status": status,
        "expire_time": order.deadline(),
    })
}

/// `data` of `shop/order/detail`: the create view with current values, plus the state.
pub fn detail_view(order: &Order) -> Value {
    let mut detail = create_view(order);
    if let (Value::Object(detail), Value::Object(state)) = (&mut detail, state_view(order)) {
        for (key, value) in state {
            detail.entry(key).or_insert(value);
        }
    }
    detail
}
