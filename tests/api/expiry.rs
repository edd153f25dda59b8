//! Unpaid orders close at their deadline and give the seat back.

use std::time::Duration;

use ordercenter::domain::time::now_secs;

use crate::helpers::{eventually, spawn_app_with, Registration, Status};

/// The order TTL of these tests, in seconds.
const TTL: u64 = 2;

#[actix_web::test]
async fn an_unpaid_order_holds_its_seat_until_its_deadline() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    let activity = app.save_activity("一座活动", 100, 1).await;
    let member = app.member(1001);

    let order = member.order(activity).await;

    assert_eq!(order.overdue_time, TTL);
    assert_eq!(app.activity(activity).await.seats_left, 0);
    app.member(1002)
        .try_apply(activity)
        .await
        .expect_error(409, 4_090_000_003);
    assert_eq!(member.state(&order).await.status, Status::Unpaid);
}

#[actix_web::test]
async fn an_unpaid_order_closes_no_earlier_than_its_deadline() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    let member = app.member(1101);
    let order = member.order(1).await;

    let closed_at = eventually(Duration::from_secs(8), "the order to close", || async {
        let state = member.state(&order).await;
        (state.status == Status::Closed).then(now_secs)
    })
    .await;

    assert!(
        closed_at >= order.expire_time,
        "closed at {closed_at}, before its deadline {}",
        order.expire_time
    );
    assert_eq!(member.state(&order).await.message, "订单已关闭");
}

#[actix_web::test]
async fn the_seat_of_an_expired_order_can_be_taken_again() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    let activity = app.save_activity("一座活动", 100, 1).await;
    let member = app.member(1201);
    let order = member.order(activity).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(8))
        .await;

    // The outbox tells the activity platform, which releases the seat.
    app.wait_seats_left(activity, 1, Duration::from_secs(5))
        .await;
    let other = app.member(1202).order(activity).await;

    assert_eq!(other.status, Status::Unpaid);
    app.member(1203)
        .try_apply(activity)
        .await
        .expect_error(409, 4_090_000_003);
}

#[actix_web::test]
async fn a_pending_apply_without_an_order_is_released_after_the_ttl() {
    let app = spawn_app_with(|c| c.order_ttl = 1).await;
    let activity = app.save_activity("一座活动", 100, 1).await;
    let member = app.member(2001);
    let applied = member.apply(activity).await;
    app.member(2002)
        .try_apply(activity)
        .await
        .expect_error(409, 4_090_000_003);

    app.wait_seats_left(activity, 1, Duration::from_secs(6))
        .await;

    let record = member.apply_record(applied.apply_info.apply_id).await;
    assert_eq!(record.status, Registration::Cancelled);
}

#[actix_web::test]
async fn ordering_a_lapsed_apply_is_refused_and_takes_no_seat() {
    let app = spawn_app_with(|c| c.order_ttl = 1).await;
    let activity = app.save_activity("一座活动", 100, 1).await;
    let member = app.member(2101);
    let applied = member.apply(activity).await;
    app.wait_seats_left(activity, 1, Duration::from_secs(6))
        .await;

    let lapsed = member.try_create_order(&applied.sku_slice).await;

    lapsed.expect_error(404, 4_040_000_002);
    assert_eq!(app.activity(activity).await.seats_left, 1);
}
