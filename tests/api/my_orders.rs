//! `shop/order/list`: a member's own orders, newest first, a page at a time; nobody else's.

use serde_json::Value;

use crate::helpers::{caller_form, spawn_app, Status, TestApp};

/// `shop/order/list` as `member` with `extra` fields.
async fn list(app: &TestApp, member: u64, extra: &[(&'static str, String)]) -> Value {
    let mut form = caller_form(member);
    form.extend_from_slice(extra);
    app.post_form("/shop/order/list", &form).await.ok().clone()
}

fn numbers(page: &Value) -> Vec<String> {
    page["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|entry| entry["parent_order_no"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_member_sees_their_own_orders_newest_first_page_by_page() {
    let app = spawn_app().await;
    let member = app.member(9701);
    // Five orders on five activities: one paid, one cancelled, three unpaid.
    let mut made = Vec::new();
    for i in 0..5u64 {
        let activity = app.save_activity(&format!("活动{i}"), 100 + i, 5).await;
        made.push(member.order(activity).await);
    }
    member.pay(&made[1]).await;
    assert_eq!(app.buyer_pays(&made[1].parent_order_no).await, 200);
    member
        .wait_status(&made[1], Status::Paid, std::time::Duration::from_secs(10))
        .await;
    member.cancel(&made[3]).await;
    // Someone else's order is never listed.
    app.member(9702).order(1).await;
    let newest_first: Vec<String> = made
        .iter()
        .rev()
        .map(|o| o.parent_order_no.clone())
        .collect();

    let first = list(&app, 9701, &[("limit", "2".into())]).await;
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    let second = list(&app, 9701, &[("limit", "2".into()), ("cursor", cursor)]).await;
    let cursor = second["next_cursor"].as_str().expect("a cursor").to_owned();
    let last = list(&app, 9701, &[("limit", "2".into()), ("cursor", cursor)]).await;

    let pages = [numbers(&first), numbers(&second), numbers(&last)].concat();
    assert_eq!(pages, newest_first);
    assert!(last["next_cursor"].is_null(), "{last}");
    // The entry's fields, as the frontend reads them.
    let all = list(&app, 9701, &[]).await;
    assert_eq!(numbers(&all), newest_first, "default limit 20: one page");
    assert!(all["next_cursor"].is_null());
    let paid = &all["list"][3];
    assert_eq!(paid["parent_order_no"], made[1].parent_order_no.as_str());
    assert_eq!(paid["order_no"], made[1].order_no.as_str());
    assert_eq!(paid["order_status"], 1);
    assert_eq!(paid["pay_price"], 1.01);
    assert_eq!(paid["sku_name"], "活动1");
    assert_eq!(paid["c_time"], made[1].created_at);
    assert_eq!(paid["expire_time"], made[1].expire_time);
    assert!(paid["payment_time"].as_u64().unwrap() >= made[1].created_at);
    assert_eq!(all["list"][0]["payment_time"], 0);
    // By status.
    let closed = list(&app, 9701, &[("status", "2".into())]).await;
    assert_eq!(numbers(&closed), [made[3].parent_order_no.clone()]);
    let unpaid = list(&app, 9701, &[("status", "0".into())]).await;
    assert_eq!(numbers(&unpaid).len(), 3);
    let refunded = list(&app, 9701, &[("status", "3".into())]).await;
    assert!(numbers(&refunded).is_empty() && refunded["next_cursor"].is_null());
    // GET with a query works too; another member (or company) sees nothing of these.
    let mut query = caller_form(9701);
    query.push(("limit", "1".into()));
    let got = app.get("/shop/order/list", &query).await;
    assert_eq!(numbers(got.ok()), [newest_first[0].clone()]);
    for (company, member) in [(421, 9703), (422, 9701)] {
        let form = vec![
            ("company_id", company.to_string()),
            ("member_id", member.to_string()),
        ];
        let other = app.post_form("/shop/order/list", &form).await;
        assert!(numbers(other.ok()).is_empty(), "{}", other.text);
    }
}

/// With a status filter, the last page has no cursor even when older orders of another
/// status follow it; a full page with a match after it does.
#[actix_web::test]
async fn a_filtered_last_page_has_no_cursor() {
    let app = spawn_app().await;
    let member = app.member(9721);
    let mut made = Vec::new();
    for i in 0..3u64 {
        let activity = app.save_activity(&format!("筛选{i}"), 100 + i, 5).await;
        made.push(member.order(activity).await);
    }
    // Oldest unpaid; the two newer paid.
    for order in &made[1..] {
        member.pay(order).await;
        assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
        member
            .wait_status(order, Status::Paid, std::time::Duration::from_secs(10))
            .await;
    }
    let paid = [("status", "1".to_string()), ("limit", "1".to_string())];
    let first = list(&app, 9721, &paid).await;
    assert_eq!(numbers(&first), vec![made[2].parent_order_no.clone()]);
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    let mut next = paid.to_vec();
    next.push(("cursor", cursor));
    let last = list(&app, 9721, &next).await;
    assert_eq!(numbers(&last), vec![made[1].parent_order_no.clone()]);
    assert!(last["next_cursor"].is_null(), "{last}");
}
