//! Order calls: ownership, cancel, repeated creates, registration rules.

use std::time::Duration;

use crate::helpers::{spawn_app, Order, Status, BUSINESS, COMPANY};

#[actix_web::test]
async fn another_member_or_company_cannot_see_or_cancel_the_order() {
    let app = spawn_app().await;
    let owner = app.member(3001);
    let order = owner.order(1).await;
    let unknown = "2013000000000000001";
    let call = |member: u64, company: u64, parent: &str| {
        vec![
            ("company_id", company.to_string()),
            ("member_id", member.to_string()),
            ("business_id", BUSINESS.to_string()),
            ("parent_order_no", parent.to_owned()),
        ]
    };

    for (member, company) in [(3002, COMPANY), (3001, COMPANY + 1)] {
        for path in [
            "/shop/order/state",
            "/shop/order/detail",
            "/shop/order/cancel",
        ] {
            let theirs = app
                .post_form(path, &call(member, company, &order.parent_order_no))
                .await;
            theirs.expect_error(404, 4_040_000_001);
            let missing = app.post_form(path, &call(member, company, unknown)).await;
            assert_eq!(
                theirs.text, missing.text,
                "{path}: a foreign order looks exactly like a missing one"
            );
        }
    }

    assert_eq!(
        owner.state(&order).await.status,
        Status::Unpaid,
        "nothing changed"
    );
}

#[actix_web::test]
async fn the_owner_cancels_an_unpaid_order_and_its_seat_returns() {
    let app = spawn_app().await;
    let activity = app.save_activity("取消活动", 1, 1).await;
    let member = app.member(4001);
    let order = member.order(activity).await;

    let cancelled = member.cancel(&order).await;

    assert_eq!(cancelled.status, Status::Closed);
    app.wait_seats_left(activity, 1, Duration::from_secs(5))
        .await;
    assert_eq!(member.detail(&order).await.status, Status::Closed);
}

#[actix_web::test]
async fn cancelling_a_cancelled_order_answers_its_closed_state_again() {
    let app = spawn_app().await;
    let member = app.member(4101);
    let order = member.order(1).await;
    member.cancel(&order).await;

    let again = member.cancel(&order).await;

    assert_eq!(again.status, Status::Closed);
}

#[actix_web::test]
async fn creating_again_for_an_ordered_apply_returns_the_same_order() {
    let app = spawn_app().await;
    let member = app.member(5001);
    let applied = member.apply(1).await;

    let first = member.create_order(&applied).await;
    let second = member.create_order(&applied).await;

    assert_eq!(first.parent_order_no, second.parent_order_no);
}

#[actix_web::test]
async fn a_second_apply_while_the_order_is_unpaid_is_refused_and_points_at_the_order() {
    let app = spawn_app().await;
    let member = app.member(5011);
    let order = member.order(1).await;

    let again = member.try_apply(1).await;

    again.expect_error(409, 4_001_009_999);
    assert_eq!(
        again.data()["parent_order_no"],
        order.parent_order_no.as_str()
    );
}

#[actix_web::test]
async fn another_member_cannot_order_a_members_apply_before_or_after_it_is_ordered() {
    let app = spawn_app().await;
    let (owner, stranger) = (app.member(5021), app.member(5022));
    let applied = owner.apply(1).await;

    let before = stranger.try_create_order(&applied.sku_slice).await;
    owner.create_order(&applied).await;
    let after = stranger.try_create_order(&applied.sku_slice).await;

    before.expect_error(404, 4_040_000_002);
    after.expect_error(404, 4_040_000_002);
}

#[actix_web::test]
async fn a_double_submit_without_a_key_gets_the_same_order() {
    let app = spawn_app().await;
    for member in (5100..5110u64).map(|id| app.member(id)) {
        let applied = member.apply(1).await;

        let (first, second) = futures::join!(
            member.try_create_order(&applied.sku_slice),
            member.try_create_order(&applied.sku_slice)
        );

        assert_eq!(
            first.ok_as::<Order>().parent_order_no,
            second.ok_as::<Order>().parent_order_no,
            "{} / {}",
            first.text,
            second.text
        );
    }
}

#[actix_web::test]
async fn the_subsystem_endpoints_are_closed_to_outsiders_by_default() {
    let app = spawn_app().await;
    let order = app.member(5201).order(1).await;

    let forged = app
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[("order_no", order.order_no), ("order_status", "1".into())],
        )
        .await;
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

    forged.expect_error(401, 4_010_000_000);
    bind.expect_error(401, 4_010_000_000);
}
