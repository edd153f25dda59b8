//! The waitlist of a full activity: `waitlist=1` queues the member (first come, first
//! served); a seat that comes back (an order cancelled or expired, a reservation lapsed, a
//! refund) goes to the first waiter in the same durable change; `cancelApply` leaves the
//! queue or gives a seat back. Reserved + registered never exceed the seats.

use std::time::Duration;

use futures::StreamExt;

use crate::helpers::{spawn_app, spawn_app_with, Registration, Status, TestApp};

const FULL: (u16, u64) = (409, 4_090_000_003);

/// The activity's seat counts never exceed its seats.
async fn within_seats(app: &TestApp, activity: u64) {
    let detail = app.activity(activity).await;
    assert!(
        detail.reserved + detail.registered <= detail.seats,
        "oversold: {detail:?}"
    );
}

#[actix_web::test]
async fn a_full_activity_queues_who_asks_to_wait_and_refuses_who_does_not() {
    let app = spawn_app().await;
    let activity = app.save_activity("满员", 1, 1).await;
    let holder = app.member(9801);
    holder.order(activity).await;

    app.member(9802)
        .try_apply(activity)
        .await
        .expect_error(FULL.0, FULL.1);
    let first = app.member(9803).apply_or_wait(activity).await;
    let second = app.member(9804).apply_or_wait(activity).await;

    assert_eq!(first.apply_info.status, Registration::Waitlisted);
    assert_eq!(
        (first.apply_info.position, second.apply_info.position),
        (Some(1), Some(2))
    );
    let detail = app.activity(activity).await;
    assert_eq!((detail.waitlist, detail.seats_left), (2, 0));
    // Asking again keeps the place; applyInfo shows it.
    let again = app.member(9804).apply_or_wait(activity).await;
    assert_eq!(again.apply_info.apply_id, second.apply_info.apply_id);
    assert_eq!(again.apply_info.position, Some(2));
    let record = app
        .member(9804)
        .apply_record(second.apply_info.apply_id)
        .await;
    assert_eq!(
        (record.status, record.position),
        (Registration::Waitlisted, Some(2))
    );
    // A waiter has no seat to order yet.
    app.member(9803)
        .try_create_order(&first.sku_slice)
        .await
        .expect_error(FULL.0, FULL.1);

    // The first leaves the queue: the second moves up.
    let left = app
        .member(9803)
        .try_cancel_apply(first.apply_info.apply_id)
        .await;
    assert_eq!(left.ok()["status"], "cancelled", "{}", left.text);
    let record = app
        .member(9804)
        .apply_record(second.apply_info.apply_id)
        .await;
    assert_eq!(record.position, Some(1));
    assert_eq!(app.activity(activity).await.waitlist, 1);
    // Leaving again answers the same; someone else's apply does not exist for them.
    let again = app
        .member(9803)
        .try_cancel_apply(first.apply_info.apply_id)
        .await;
    assert_eq!(again.ok()["status"], "cancelled");
    app.member(9805)
        .try_cancel_apply(second.apply_info.apply_id)
        .await
        .expect_error(404, 4_040_000_002);
    assert_eq!(app.activity(activity).await.waitlist, 1);
}

#[actix_web::test]
async fn a_cancelled_order_hands_its_seat_to_the_first_waiter_who_can_then_pay() {
    let app = spawn_app().await;
    let activity = app.save_activity("候补", 1, 1).await;
    let holder = app.member(9811);
    let order = holder.order(activity).await;
    let waiter = app.member(9812);
    let waiting = waiter.apply_or_wait(activity).await;
    let behind = app.member(9813).apply_or_wait(activity).await;

    holder.cancel(&order).await;

    let record = waiter.apply_record(waiting.apply_info.apply_id).await;
    assert_eq!(
        (record.status, record.position),
        (Registration::PendingPayment, None)
    );
    let detail = app.activity(activity).await;
    assert_eq!(
        (detail.reserved, detail.seats_left, detail.waitlist),
        (1, 0, 1)
    );
    let behind_record = app
        .member(9813)
        .apply_record(behind.apply_info.apply_id)
        .await;
    assert_eq!(behind_record.position, Some(1));
    // The promoted waiter orders and pays like anyone.
    let promoted = waiter.create_order(&waiting).await;
    waiter.pay(&promoted).await;
    assert_eq!(app.buyer_pays(&promoted.parent_order_no).await, 200);
    waiter
        .wait_status(&promoted, Status::Paid, Duration::from_secs(10))
        .await;
    waiter.wait_registered(waiting.apply_info.apply_id).await;
    within_seats(&app, activity).await;
}

#[actix_web::test]
async fn a_refund_hands_the_seat_to_the_first_waiter() {
    let app = spawn_app().await;
    let activity = app.save_activity("退款候补", 1, 1).await;
    let holder = app.member(9821);
    let (applied, order) = holder.paid_order(activity).await;
    holder.wait_registered(applied.apply_info.apply_id).await;
    let waiter = app.member(9822);
    let waiting = waiter.apply_or_wait(activity).await;
    assert_eq!(waiting.apply_info.position, Some(1));

    holder.refund(&order).await;

    holder
        .wait_status(&order, Status::Refunded, Duration::from_secs(15))
        .await;
    crate::helpers::eventually(Duration::from_secs(5), "the waiter promoted", || async {
        let record = waiter.apply_record(waiting.apply_info.apply_id).await;
        (record.status == Registration::PendingPayment).then_some(())
    })
    .await;
    let detail = app.activity(activity).await;
    assert_eq!(
        (detail.registered, detail.reserved, detail.waitlist),
        (0, 1, 0)
    );
}

#[actix_web::test]
async fn a_seat_nobody_orders_in_time_moves_on_to_the_next_waiter() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("轮转", 1, 1).await;
    let holder = app.member(9831).apply(activity).await;
    let second = app.member(9832).apply_or_wait(activity).await;
    let third = app.member(9833).apply_or_wait(activity).await;

    // Nobody orders: the reservation lapses, the seat goes to the second, then the third.
    for (member, apply, previous) in [
        (9832, &second, holder.apply_info.apply_id),
        (9833, &third, second.apply_info.apply_id),
    ] {
        crate::helpers::eventually(
            Duration::from_secs(8),
            "the next waiter promoted",
            || async {
                let record = app
                    .member(member)
                    .apply_record(apply.apply_info.apply_id)
                    .await;
                (record.status == Registration::PendingPayment).then_some(())
            },
        )
        .await;
        let before = app.member(member - 1).apply_record(previous).await;
        assert_eq!(before.status, Registration::Cancelled);
        within_seats(&app, activity).await;
    }
    let detail = app.activity(activity).await;
    assert_eq!((detail.reserved, detail.waitlist), (1, 0));
}

#[actix_web::test]
async fn a_seat_given_back_before_ordering_goes_to_the_first_waiter() {
    let app = spawn_app().await;
    let activity = app.save_activity("让座", 1, 2).await;
    let keeps = app.member(9841).apply(activity).await;
    let gives = app.member(9842).apply(activity).await;
    let waiting = app.member(9843).apply_or_wait(activity).await;
    // A seat bound to an order is given back by cancelling the order.
    let order = app.member(9841).create_order(&keeps).await;
    let refused = app
        .member(9841)
        .try_cancel_apply(keeps.apply_info.apply_id)
        .await;
    refused.expect_error(409, 4_001_009_999);
    assert_eq!(
        refused.data()["parent_order_no"],
        order.parent_order_no.as_str()
    );

    let given = app
        .member(9842)
        .try_cancel_apply(gives.apply_info.apply_id)
        .await;

    assert_eq!(given.ok()["status"], "cancelled");
    let record = app
        .member(9843)
        .apply_record(waiting.apply_info.apply_id)
        .await;
    assert_eq!(record.status, Registration::PendingPayment);
    let detail = app.activity(activity).await;
    assert_eq!(
        (detail.reserved, detail.seats_left, detail.waitlist),
        (2, 0, 0)
    );
}

/// 200 members wait for 20 seats; the 20 orders holding them are cancelled at once. Each
/// seat goes to exactly one waiter, the first 20 in the order they queued; the rest move up.
#[actix_web::test]
async fn two_hundred_waiters_and_a_burst_of_released_seats() {
    const SEATS: u64 = 20;
    const WAITERS: u64 = 200;
    let app = spawn_app().await;
    let activity = app.save_activity("抢票", 1, SEATS).await;
    let app = &app;
    let holders: Vec<_> = futures::future::join_all((0..SEATS).map(|i| async move {
        let member = app.member(20_000 + i);
        (member, member.order(activity).await)
    }))
    .await;
    let waited: Vec<(u64, crate::helpers::Applied)> = futures::stream::iter(0..WAITERS)
        .map(|i| async move {
            let id = 30_000 + i;
            (id, app.member(id).apply_or_wait(activity).await)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut positions: Vec<u32> = waited
        .iter()
        .map(|(_, applied)| applied.apply_info.position.expect("a position"))
        .collect();
    positions.sort_unstable();
    assert_eq!(
        positions,
        (1..=WAITERS as u32).collect::<Vec<_>>(),
        "one place each"
    );
    assert_eq!(app.activity(activity).await.waitlist, WAITERS);

    // The burst, watched for overselling while it happens.
    let watching = std::sync::atomic::AtomicBool::new(true);
    let watch = async {
        while watching.load(std::sync::atomic::Ordering::Relaxed) {
            within_seats(app, activity).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let burst = async {
        futures::future::join_all(holders.iter().map(|(member, order)| member.cancel(order))).await;
        watching.store(false, std::sync::atomic::Ordering::Relaxed);
    };
    futures::join!(watch, burst);

    let mut promoted = Vec::new();
    let mut still_waiting = Vec::new();
    for (id, applied) in &waited {
        let record = app
            .member(*id)
            .apply_record(applied.apply_info.apply_id)
            .await;
        let queued_at = applied.apply_info.position.unwrap();
        match record.status {
            Registration::PendingPayment => promoted.push(queued_at),
            Registration::Waitlisted => {
                still_waiting.push((queued_at, record.position.expect("a position")))
            }
            other => panic!("waiter {id}: {other:?}"),
        }
    }
    promoted.sort_unstable();
    assert_eq!(
        promoted,
        (1..=SEATS as u32).collect::<Vec<_>>(),
        "the first {SEATS} waiters, each a seat"
    );
    for (queued_at, now) in still_waiting {
        assert_eq!(
            now,
            queued_at - SEATS as u32,
            "moved up by the seats handed on"
        );
    }
    let detail = app.activity(activity).await;
    assert_eq!(
        (detail.reserved, detail.seats_left, detail.waitlist),
        (SEATS, 0, WAITERS - SEATS)
    );
}

/// `loadgen --scenario waitlist`, small, against the embedded stack: its invariants hold,
/// and seats did move down the queue.
#[actix_web::test]
async fn the_loadgen_waitlist_scenario_finds_no_violation() {
    let app = spawn_app().await;
    let target = app.base.clone();
    let (report, success) = tokio::task::spawn_blocking(move || {
        crate::helpers::run_loadgen(&[
            "--target",
            &target,
            "--scenario",
            "waitlist",
            "--members",
            "60",
            "--seats",
            "10",
            "--refund-ratio",
            "0.8",
            "--poll-ms",
            "100",
            "--concurrency",
            "16",
        ])
    })
    .await
    .expect("joined");
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    assert!(success, "{report}");
    assert_eq!(report["waitlisted"], 50, "{report}");
    assert!(report["refunds"].as_u64().unwrap() > 0, "{report}");
    let refunds = report["refunds"].as_u64().unwrap();
    assert_eq!(report["promoted"], refunds.min(50), "{report}");
}

/// The waitlist count kept per activity (not a scan of the queue) stays exact when a
/// waiter leaves from the middle and one is promoted: a new waiter's position is that
/// count, and `detail.waitlist` says it.
#[actix_web::test]
async fn the_waitlist_count_follows_joins_leavers_and_promotions() {
    let app = spawn_app().await;
    let activity = app.save_activity("计数", 1, 1).await;
    let holder = app.member(9811);
    let held = holder.order(activity).await;
    let mut waiters = Vec::new();
    for id in 9812..9815 {
        waiters.push(app.member(id).apply_or_wait(activity).await);
    }
    let left = app
        .member(9813)
        .try_cancel_apply(waiters[1].apply_info.apply_id)
        .await;
    assert_eq!(left.ok()["status"], "cancelled", "{}", left.text);
    assert_eq!(app.activity(activity).await.waitlist, 2);
    let late = app.member(9815).apply_or_wait(activity).await;
    assert_eq!(late.apply_info.position, Some(3));
    holder.cancel(&held).await;
    let detail = app.activity(activity).await;
    assert_eq!((detail.waitlist, detail.reserved), (2, 1), "{detail:?}");
    let record = app
        .member(9815)
        .apply_record(late.apply_info.apply_id)
        .await;
    assert_eq!(record.position, Some(2));
    let next = app.member(9816).apply_or_wait(activity).await;
    assert_eq!(next.apply_info.position, Some(3));
}
