//! Unpaid orders close at their deadline and give the seat back.

use std::time::Duration;

use crate::helpers::{eventually, spawn_app_with};

#[actix_web::test]
async fn an_unpaid_order_closes_at_its_deadline_and_its_seat_can_be_taken_again() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("一座活动", 100, 1).await;

    let created = app.apply_and_create(1001, activity).await;
    let parent = created["parent_order_no"].as_str().unwrap().to_owned();
    let deadline = created["expire_time"].as_u64().unwrap();
    assert_eq!(created["overdue_time"], 2);
    assert_eq!(app.activity_json(activity).await["seats_left"], 0);
    // The only seat is held: another member is turned away.
    app.apply(1002, activity)
        .await
        .expect_error(409, 4_090_000_003);
    assert_eq!(
        app.state(1001, &parent).await.ok()["transaction_status"],
        "0"
    );

    let closed_at = eventually(Duration::from_secs(8), "the order to close", || async {
        let state = app.state(1001, &parent).await;
        (state.ok()["transaction_status"] == "2").then(ordercenter::domain::time::now_secs)
    })
    .await;
    assert!(
        closed_at >= deadline,
        "closed at {closed_at}, before its deadline {deadline}"
    );
    let state = app.state(1001, &parent).await;
    assert_eq!(state.ok()["transaction_msg"], "订单已关闭");

    // The outbox tells the activity platform, which releases the seat.
    eventually(
        Duration::from_secs(5),
        "the seat to be released",
        || async { (app.activity_json(activity).await["seats_left"] == 1).then_some(()) },
    )
    .await;
    let other = app.apply_and_create(1002, activity).await;
    assert_eq!(other["list"]["order"]["order_status"], 0);
    app.apply(1003, activity)
        .await
        .expect_error(409, 4_090_000_003);
}

#[actix_web::test]
async fn a_pending_apply_without_an_order_is_released_after_the_ttl() {
    let app = spawn_app_with(|c| c.order_ttl = 1).await;
    let activity = app.save_activity("一座活动", 100, 1).await;
    let applied = app.apply(2001, activity).await;
    let apply_id = applied.ok()["apply_info"]["apply_id"].as_u64().unwrap();
    app.apply(2002, activity)
        .await
        .expect_error(409, 4_090_000_003);
    eventually(
        Duration::from_secs(6),
        "the reservation to lapse",
        || async { (app.activity_json(activity).await["seats_left"] == 1).then_some(()) },
    )
    .await;
    let info = app
        .get(
            "/activityPlatform/wxActivity/applyInfo",
            &[
                ("apply_id", apply_id.to_string()),
                ("member_id", "2001".into()),
                ("company_id", "421".into()),
            ],
        )
        .await;
    assert_eq!(info.ok()["status"], "cancelled");
    // Ordering the lapsed apply is refused and creates nothing.
    app.create(2001, &format!("{apply_id}:1"))
        .await
        .expect_error(404, 4_040_000_002);
    assert_eq!(app.activity_json(activity).await["seats_left"], 1);
}
