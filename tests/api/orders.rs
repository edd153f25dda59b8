//! Order calls: ownership, cancel, repeated creates, registration rules.

use crate::helpers::{spawn_app, TestApp, BUSINESS, COMPANY};

fn order_call(member: u64, company: u64, parent: &str) -> Vec<(&'static str, String)> {
    vec![
        ("company_id", company.to_string()),
        ("member_id", member.to_string()),
        ("business_id", BUSINESS.to_string()),
        ("parent_order_no", parent.to_owned()),
    ]
}

#[actix_web::test]
async fn another_member_or_company_cannot_see_or_cancel_the_order() {
    let app = spawn_app().await;
    let created = app.apply_and_create(3001, 1).await;
    let parent = created["parent_order_no"].as_str().unwrap();
    let unknown = "2013000000000000001";
    for (member, company) in [(3002, COMPANY), (3001, COMPANY + 1)] {
        for path in [
            "/shop/order/state",
            "/shop/order/detail",
            "/shop/order/cancel",
        ] {
            let theirs = app
                .post_form(path, &order_call(member, company, parent))
                .await;
            theirs.expect_error(404, 4_040_000_001);
            let missing = app
                .post_form(path, &order_call(member, company, unknown))
                .await;
            assert_eq!(
                theirs.text, missing.text,
                "{path}: a foreign order looks exactly like a missing one"
            );
        }
    }
    assert_eq!(
        app.state(3001, parent).await.ok()["transaction_status"],
        "0",
        "nothing changed"
    );
}

#[actix_web::test]
async fn the_owner_cancels_and_the_seat_returns() {
    let app = spawn_app().await;
    let activity = app.save_activity("取消活动", 1, 1).await;
    let created = app.apply_and_create(4001, activity).await;
    let parent = created["parent_order_no"].as_str().unwrap();
    let cancelled = app
        .post_form("/shop/order/cancel", &order_call(4001, COMPANY, parent))
        .await;
    assert_eq!(cancelled.ok()["transaction_status"], "2");
    // Cancelling again answers the same closed state.
    let again = app
        .post_form("/shop/order/cancel", &order_call(4001, COMPANY, parent))
        .await;
    assert_eq!(again.ok()["transaction_status"], "2");
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the seat to return",
        || async { (app.activity_json(activity).await["seats_left"] == 1).then_some(()) },
    )
    .await;
    let detail = app
        .post_form("/shop/order/detail", &order_call(4001, COMPANY, parent))
        .await;
    assert_eq!(detail.ok()["list"]["order"]["order_status"], 2);
}

#[actix_web::test]
async fn creating_again_for_an_ordered_apply_returns_the_same_order() {
    let app: TestApp = spawn_app().await;
    let applied = app.apply(5001, 1).await;
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
    let first = app.create(5001, &sku_slice).await;
    let second = app.create(5001, &sku_slice).await;
    assert_eq!(
        first.ok()["parent_order_no"],
        second.ok()["parent_order_no"]
    );
    // Applying again while the order is unpaid points at it.
    let again = app.apply(5001, 1).await;
    again.expect_error(409, 4_001_009_999);
    assert_eq!(
        again.data()["parent_order_no"],
        first.ok()["parent_order_no"]
    );
    // Someone else cannot order this member's apply.
    app.create(5002, &sku_slice)
        .await
        .expect_error(404, 4_040_000_002);
}

#[actix_web::test]
async fn a_double_submit_without_a_key_gets_the_same_order() {
    let app = spawn_app().await;
    for member in 5100..5110u64 {
        let applied = app.apply(member, 1).await;
        let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
        let (first, second) = futures::join!(
            app.create(member, &sku_slice),
            app.create(member, &sku_slice)
        );
        assert_eq!(
            first.ok()["parent_order_no"],
            second.ok()["parent_order_no"],
            "{} / {}",
            first.text,
            second.text
        );
    }
}

#[actix_web::test]
async fn the_subsystem_endpoints_are_closed_to_outsiders_by_default() {
    let app = spawn_app().await;
    let created = app.apply_and_create(5201, 1).await;
    let order_no = created["list"]["order"]["order_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = app
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[("order_no", order_no), ("order_status", "1".into())],
        )
        .await;
    forged.expect_error(401, 4_010_000_000);
    let bind = app
        .post_form(
            "/activityPlatform/activity/applyOrderCreate",
            &[
                ("order_no", "3001000000000000001".into()),
                ("parent_order_no", "2013000000000000001".into()),
                ("company_id", "421".into()),
                ("member_id", "5201".into()),
                ("business_id", "10000001".into()),
                ("sku_slice", "10001:1".into()),
            ],
        )
        .await;
    bind.expect_error(401, 4_010_000_000);
}
