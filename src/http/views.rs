//! Every JSON view the platform answers: orders field for field as the seed's samples
//! (types included): prices in yuan as shortest numbers ([`Yuan`]),
//! `business_type`/`trade_no`/`order_info` strings, Unix-second times; the pay answer; and
//! activities and applies. Order keys come out sorted, as in the seed: the view structs
//! declare their fields in that order (a test checks it), and serialize straight to the
//! response without building a `serde_json::Value` map per answer (a map per answer cost
//! 8 % of the server's CPU in a create run). The rarer views are `json!` maps.

use serde::Serialize;
use serde_json::{json, Value};

use crate::activity::model::{ActivityDetail, ApplyDetail};
use crate::domain::{time, Fen, Order, OrderItem, OrderStatus, Yuan};
use crate::store::orders::InspectedOrder;

/// `app_id` of the seed's rows (the mini-program application).
const APP_ID: u64 = 10101;
/// `sys_id` of the activity platform.
const ACTIVITY_SYS_ID: u64 = 30;
/// `business_type` of the activity platform.
const ACTIVITY_BUSINESS_TYPE: u16 = 3001;
/// `order_subject` of activity orders.
const ACTIVITY_SUBJECT: &str = "活动报名订单";

fn subject(order: &Order) -> &'static str {
    match order.request.business_type {
        3001 => ACTIVITY_SUBJECT,
        _ => "订单",
    }
}

/// One line of `list.item`.
#[derive(Serialize)]
struct ItemView<'a> {
    app_id: u64,
    back_sku_num: u8,
    business_id: u64,
    c_time: u64,
    company_id: u64,
    id: u64,
    item_price: Yuan,
    order_item_no: &'a str,
    order_no: &'a str,
    pay_price: Yuan,
    refund_status: u8,
    sale_price: Yuan,
    sales_id: u64,
    sku: &'a str,
    sku_img: &'a str,
    sku_info: &'a str,
    sku_name: &'a str,
    sku_num: u32,
    sku_price: Yuan,
    sport_tag_id: u8,
    stadium_id: u8,
    u_time: u64,
}

fn item_view<'a>(order: &'a Order, item: &'a OrderItem) -> ItemView<'a> {
    let line = Yuan(item.line_price());
    ItemView {
        app_id: APP_ID,
        back_sku_num: 0,
        business_id: order.request.business_id,
        c_time: order.c_time,
        company_id: order.request.owner.company_id,
        id: item.id,
        item_price: Yuan(item.sku_price),
        order_item_no: &item.order_item_no,
        order_no: order.order_no.as_str(),
        pay_price: line,
        refund_status: refund_status(order),
        sale_price: line,
        sales_id: order.request.sales_id,
        sku: &item.sku,
        sku_img: &item.sku_img,
        sku_info: &item.sku_info,
        sku_name: &item.sku_name,
        sku_num: item.sku_num,
        sku_price: Yuan(item.sku_price),
        sport_tag_id: 0,
        stadium_id: 0,
        u_time: order.u_time,
    }
}

/// 1 once a refund was asked for (pending at the provider, or done), else 0.
fn refund_status(order: &Order) -> u8 {
    u8::from(order.status == OrderStatus::Refunded || order.refund_pending())
}

/// `list.order`.
#[derive(Serialize)]
struct OrderView<'a> {
    app_id: u64,
    back_subtotal_count: u8,
    business_id: u64,
    business_type: String,
    c_time: u64,
    company_id: u64,
    deduct_price: u8,
    id: u64,
    invoice_status: u8,
    member_id: u64,
    notify_status: u8,
    notify_url: &'static str,
    order_from: u32,
    order_info: &'static str,
    order_no: &'a str,
    order_price: Yuan,
    order_status: u8,
    order_subject: &'static str,
    parent_order_no: &'a str,
    pay_code_status: u8,
    pay_price: Yuan,
    payment_time: u64,
    payment_way1: u32,
    payment_way1_price: Yuan,
    payment_way2: u8,
    payment_way2_price: u8,
    refund_status: u8,
    sale_price: Yuan,
    sales_id: u64,
    stadium_id: u8,
    sys_id: u64,
    total_count: u64,
    trade_cate_id: u64,
    trade_no: &'static str,
    trade_type_id: u16,
    u_time: u64,
}

fn order_view(order: &Order) -> OrderView<'_> {
    let total = Yuan(order.total());
    let paid = if order.status == OrderStatus::Paid || order.status == OrderStatus::Refunded {
        order.total()
    } else {
        Fen::ZERO
    };
    OrderView {
        app_id: APP_ID,
        back_subtotal_count: 0,
        business_id: order.request.business_id,
        business_type: order.request.business_type.to_string(),
        c_time: order.c_time,
        company_id: order.request.owner.company_id,
        deduct_price: 0,
        id: order.id,
        invoice_status: 0,
        member_id: order.request.owner.member_id,
        notify_status: 0,
        notify_url: "",
        order_from: order.request.order_from,
        order_info: "",
        order_no: order.order_no.as_str(),
        order_price: total,
        order_status: order.status.code(),
        order_subject: subject(order),
        parent_order_no: order.parent_order_no.as_str(),
        pay_code_status: 0,
        pay_price: total,
        payment_time: order.payment_time,
        payment_way1: order.payment_way,
        payment_way1_price: Yuan(paid),
        payment_way2: 0,
        payment_way2_price: 0,
        refund_status: refund_status(order),
        sale_price: total,
        sales_id: order.request.sales_id,
        stadium_id: 0,
        sys_id: order.request.sys_id,
        total_count: order
            .items
            .iter()
            .map(|i| u64::from(i.sku_num))
            .sum::<u64>(),
        trade_cate_id: order.request.sys_id,
        trade_no: "0",
        trade_type_id: order.request.business_type,
        u_time: order.u_time,
    }
}

/// `list.extra`.
#[derive(Serialize)]
struct ExtraView<'a> {
    stadium_name: &'a str,
    user_info: &'a str,
}

/// `list`.
#[derive(Serialize)]
struct ListView<'a> {
    extra: ExtraView<'a>,
    item: Vec<ItemView<'a>>,
    order: OrderView<'a>,
}

/// `data` of `shop/order/create`.
#[derive(Serialize)]
pub struct CreateView<'a> {
    expire_time: u64,
    list: ListView<'a>,
    overdue_time: u64,
    parent_order_no: &'a str,
    payment_way: String,
}

/// `data` of `shop/order/create`.
pub fn create_view(order: &Order) -> CreateView<'_> {
    CreateView {
        expire_time: order.deadline(),
        list: ListView {
            extra: ExtraView {
                stadium_name: &order.extra.stadium_name,
                user_info: &order.extra.user_info,
            },
            item: order
                .items
                .iter()
                .map(|item| item_view(order, item))
                .collect(),
            order: order_view(order),
        },
        overdue_time: order.overdue_secs,
        parent_order_no: order.parent_order_no.as_str(),
        payment_way: order.payment_way.to_string(),
    }
}

/// `transaction_status` and `transaction_msg` of an order.
fn transaction(order: &Order) -> (&'static str, &'static str) {
    match order.status {
        OrderStatus::Creating | OrderStatus::Unpaid => ("0", "订单未支付"),
        OrderStatus::Paid => ("1", "SUCCESS"),
        OrderStatus::Closed | OrderStatus::Abandoned | OrderStatus::RefundRefused => {
            ("2", "订单已关闭")
        }
        OrderStatus::Refunded => ("3", "订单已退款"),
    }
}

/// `data` of `shop/order/state` (and `shop/order/cancel`).
#[derive(Serialize)]
pub struct StateView<'a> {
    expire_time: u64,
    parent_order_no: &'a str,
    return_msg: &'static str,
    time_end: String,
    total_fee: Yuan,
    transaction_code: &'static str,
    transaction_msg: &'static str,
    transaction_status: &'static str,
}

/// `data` of `shop/order/state` (and `shop/order/cancel`).
pub fn state_view(order: &Order) -> StateView<'_> {
    let (status, message) = transaction(order);
    let time_end = if order.payment_time > 0 {
        order.payment_time
    } else {
        order.c_time
    };
    StateView {
        expire_time: order.deadline(),
        parent_order_no: order.parent_order_no.as_str(),
        return_msg: "OK",
        time_end: time::format_china(time_end),
        total_fee: Yuan(order.total()),
        transaction_code: "0",
        transaction_msg: message,
        transaction_status: status,
    }
}

/// One entry of `shop/order/list`.
#[derive(Serialize)]
struct ListedOrder<'a> {
    c_time: u64,
    expire_time: u64,
    order_no: &'a str,
    order_status: u8,
    parent_order_no: &'a str,
    pay_price: Yuan,
    payment_time: u64,
    sku_name: &'a str,
}

/// `data` of `shop/order/list`: `list` newest first, `next_cursor` (`null` on the last
/// page).
pub fn order_list_view(orders: &[Order], next_cursor: Option<u64>) -> Value {
    let list: Vec<ListedOrder<'_>> = orders
        .iter()
        .map(|order| ListedOrder {
            c_time: order.c_time,
            expire_time: order.deadline(),
            order_no: order.order_no.as_str(),
            order_status: order.status.code(),
            parent_order_no: order.parent_order_no.as_str(),
            pay_price: Yuan(order.total()),
            payment_time: order.payment_time,
            sku_name: order
                .items
                .first()
                .map_or("", |item| item.sku_name.as_str()),
        })
        .collect();
    json!({
        "list": list,
        "next_cursor": next_cursor.map(|id| id.to_string()),
    })
}

/// `data` of `shop/order/detail`: the create view with current values, plus the state.
pub fn detail_view(order: &Order) -> Value {
    let mut detail = serde_json::to_value(create_view(order)).unwrap_or(Value::Null);
    let state = serde_json::to_value(state_view(order)).unwrap_or(Value::Null);
    if let (Value::Object(detail), Value::Object(state)) = (&mut detail, state) {
        for (key, value) in state {
            detail.entry(key).or_insert(value);
        }
        detail.insert("refund_status".into(), refund_status(order).into());
    }
    detail
}

/// `data` of `shop/order/pay`: the seed's shape plus `mini_app_id`.
pub fn pay_view(order: &Order) -> serde_json::Value {
    let prepay = order.payment.as_ref().and_then(|p| p.prepay.as_ref());
    let paid = order.status == OrderStatus::Paid;
    json!({
        "mini_app_id": prepay.map(|p| p.app_id.as_str()).unwrap_or(""),
        "nonce_str": prepay.map(|p| p.nonce_str.as_str()).unwrap_or(""),
        "parent_order_no": order.parent_order_no.as_str(),
        "pay_sign": prepay.map(|p| p.pay_sign.as_str()).unwrap_or(""),
        "pay_url": "",
        "payment_way": order.payment_way,
        "prepay_id": prepay.map(|p| p.prepay_id()).unwrap_or(""),
        "price": order.total().0.to_string(),
        "sign_type": prepay.map(|p| p.sign_type.as_str()).unwrap_or("RSA"),
        "timestamp": prepay.map(|p| p.time_stamp.clone()).unwrap_or_else(|| order.u_time.to_string()),
        "transaction_code": "0",
        "transaction_msg": if paid { "SUCCESS" } else { "" },
        "transaction_status": if paid { "1" } else { "0" },
    })
}

/// An activity (`activity/save`, `wxActivity/detail`): seats and whether sign-up is open.
pub fn activity_view(detail: &ActivityDetail) -> serde_json::Value {
    let activity = &detail.activity;
    let now = time::now_secs();
    let status = if !activity.enabled {
        "disabled"
    } else if now < activity.start_time {
        "not_started"
    } else if activity.end_time != 0 && now >= activity.end_time {
        "ended"
    } else {
        "open"
    };
    json!({
        "activity_id": activity.id,
        "name": activity.name,
        "price": Yuan(activity.price),
        "seats": activity.seats,
        "seats_left": activity.seats_left(),
        "reserved": activity.reserved,
        "registered": activity.registered,
        "start_time": activity.start_time,
        "end_time": activity.end_time,
        "per_member_limit": activity.per_member_limit,
        "stadium_name": activity.stadium_name,
        "status": status,
        "refund_deadline": detail.refund_deadline,
        "waitlist": detail.waitlist,
    })
}

/// An apply (`wxActivity/applyInfo`).
pub fn apply_view(detail: &ApplyDetail) -> serde_json::Value {
    let (apply, activity) = (&detail.apply, &detail.activity);
    json!({
        "apply_id": apply.id,
        "activity_id": apply.activity_id,
        "activity_name": activity.name,
        "status": apply.status.as_str(),
        "name": apply.name,
        "phone": apply.phone,
        "order_no": apply.order_no.as_ref().map(|n| n.as_str()).unwrap_or(""),
        "parent_order_no": apply.parent_order_no.as_ref().map(|n| n.as_str()).unwrap_or(""),
        "c_time": apply.created_at,
        "u_time": apply.updated_at,
        "position": detail.position,
    })
}

/// `data` of `wxActivity/apply`: the apply and the SKU the frontend orders next.
pub fn applied_view(detail: &ApplyDetail) -> Value {
    let (apply, activity) = (&detail.apply, &detail.activity);
    json!({
        "apply_info": {
            "apply_id": apply.id,
            "activity_id": apply.activity_id,
            "status": apply.status.as_str(),
            "position": detail.position,
        },
        "sku_slice": format!("{}:1", apply.id),
        "business_type": ACTIVITY_BUSINESS_TYPE,
        "sys_id": ACTIVITY_SYS_ID,
        "business_id": apply.business_id,
        "price": Yuan(activity.price),
    })
}

/// `GET /admin/orders/{parent_order_no}` and `ordercenter inspect --json`: the order as
/// the service keeps it (internal status, owner, payment attempt and refund), the member's
/// detail view of it, and its history with times in UTC+8.
pub fn admin_order_view(inspected: &InspectedOrder) -> Value {
    let order = &inspected.order;
    let payment = order.payment.as_ref().map(|payment| {
        json!({
            "payment_way": payment.payment_way,
            "started_at": payment.started_at,
            "amount_fen": payment.amount.0,
            "prepay_id": payment.prepay.as_ref().map(|prepay| prepay.prepay_id()),
            "target_order_id": payment.target_order_id,
            "refund": payment.refund.as_ref().map(|refund| json!({
                "refund_order_id": refund.refund_order_id,
                "attempt": refund.attempt,
                "amount_fen": refund.amount.0,
                "requested_at": refund.requested_at,
            })),
        })
    });
    let history: Vec<Value> = inspected
        .history()
        .iter()
        .map(|entry| {
            json!({
                "at_ms": entry.at_ms,
                "time": time::format_china(entry.at_ms / 1000),
                "event": entry.what.name(),
                "detail": entry.what.detail(),
            })
        })
        .collect();
    json!({
        "parent_order_no": order.parent_order_no.as_str(),
        "order_no": order.order_no.as_str(),
        "status": order.status.name(),
        "company_id": order.request.owner.company_id,
        "member_id": order.request.owner.member_id,
        "business_type": order.request.business_type,
        "total_fee_fen": order.total().0,
        "c_time": order.c_time,
        "expire_time": order.deadline(),
        "payment_time": order.payment_time,
        "payment": payment,
        "detail": detail_view(order),
        "history": history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MemberRef;

    fn order(price_fen: u64, status: OrderStatus) -> Order {
        let owner = MemberRef {
            company_id: 421,
            member_id: 9,
        };
        crate::domain::order::sample(owner, Fen(price_fen), status)
    }

    /// Direct serialization writes the fields in declaration order; going through a
    /// `Value` sorts them. Equal output means the views are declared sorted, as the seed is.
    fn assert_sorted<T: Serialize>(view: &T) {
        let direct = serde_json::to_string(view).expect("serializes");
        let sorted = serde_json::to_string(&serde_json::to_value(view).expect("to value"))
            .expect("serializes");
        assert_eq!(direct, sorted, "view keys must be in sorted order");
    }

    #[test]
    fn views_are_written_with_sorted_keys() {
        for status in [
            OrderStatus::Unpaid,
            OrderStatus::Paid,
            OrderStatus::Refunded,
        ] {
            let order = order(1, status);
            assert_sorted(&create_view(&order));
            assert_sorted(&state_view(&order));
        }
    }

    #[test]
    fn prices_are_the_shortest_yuan_numbers() {
        for (fen, text) in [
            (1, "0.01"),
            (1200, "12"),
            (1250, "12.5"),
            (0, "0"),
            (999, "9.99"),
        ] {
            let view = serde_json::to_value(state_view(&order(fen, OrderStatus::Unpaid)))
                .expect("to value");
            assert_eq!(view["total_fee"].to_string(), text, "{fen} fen");
        }
        let paid = serde_json::to_value(create_view(&order(1, OrderStatus::Paid))).expect("value");
        assert_eq!(
            paid["list"]["order"]["payment_way1_price"].to_string(),
            "0.01"
        );
        assert_eq!(paid["list"]["item"][0]["sku_price"].to_string(), "0.01");
        assert_eq!(paid["list"]["order"]["business_type"], "3001");
    }
}
