//! Seats under concurrent applies.

use std::collections::HashSet;

use futures::future::join_all;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn four_hundred_concurrent_applies_for_fifty_seats_take_exactly_fifty() {
    let app = spawn_app().await;
    let activity = app.save_activity("抢位活动", 1, 50).await;

    let replies = join_all((0..400u64).map(|i| {
        let member = app.member(50_000 + i);
        async move { member.try_apply(activity).await }
    }))
    .await;

    let mut taken = 0;
    for reply in &replies {
        if reply.status == 200 {
            taken += 1;
        } else {
            reply.expect_error(409, 4_090_000_003);
        }
    }
    assert_eq!(taken, 50, "exactly the seats are taken");
    let detail = app.activity(activity).await;
    assert_eq!((detail.seats_left, detail.reserved), (0, 50));
}

#[actix_web::test]
async fn one_member_applying_concurrently_gets_one_seat() {
    let app = spawn_app().await;
    let activity = app.save_activity("抢位活动", 1, 10).await;
    let member = app.member(777);

    let applies = join_all((0..20).map(|_| member.apply(activity))).await;

    let ids: HashSet<u64> = applies.iter().map(|a| a.apply_info.apply_id).collect();
    assert_eq!(ids.len(), 1, "every repeat returns the same apply");
    assert_eq!(app.activity(activity).await.seats_left, 9);
}
