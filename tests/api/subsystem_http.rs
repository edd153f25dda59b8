//! The order center reaching the activity platform over HTTP (base URL per business_type).

use std::time::Duration;

use crate::helpers::{spawn_app_with, Applied, Form, Reply, TestApp};

/// The token the order center and the platform share.
const TOKEN: &str = "internal-secret";

/// A platform with one one-seat activity (2.50 yuan), and an order center with `order_ttl`
/// that reaches it over HTTP: (platform, center, activity).
async fn platform_and_center(order_ttl: u64) -> (TestApp, TestApp, u64) {
    let platform = spawn_app_with(|c| c.internal_token = Some(TOKEN.into())).await;
    let activity = platform.save_activity("远程活动", 250, 1).await;
    let base = platform.base.clone();
    let center = spawn_app_with(move |c| {
        c.order_ttl = order_ttl;
        c.no_demo = true;
        c.internal_token = Some(TOKEN.into());
        c.subsystem_urls = vec![format!("3001={base}")];
    })
    .await;
    (platform, center, activity)
}

#[actix_web::test]
async fn an_order_is_priced_by_a_subsystem_over_http_which_records_its_side() {
    let (platform, center, activity) = platform_and_center(480).await;
    let applied = platform.member(9001).apply(activity).await;

    let order = center.member(9001).create_order(&applied).await;

    assert_eq!(order.sku_names, ["远程活动"]);
    assert_eq!(order.price.to_string(), "2.5");
    let record = platform
        .member(9001)
        .apply_record(applied.apply_info.apply_id)
        .await;
    assert_eq!(
        record.parent_order_no.as_deref(),
        Some(order.parent_order_no.as_str()),
        "the platform recorded its side"
    );
}

#[actix_web::test]
async fn an_expiry_at_the_center_releases_the_seat_at_a_subsystem_over_http() {
    let (platform, center, activity) = platform_and_center(2).await;
    let applied = platform.member(9011).apply(activity).await;

    center.member(9011).create_order(&applied).await;

    // Through the center's outbox, over HTTP.
    platform
        .wait_seats_left(activity, 1, Duration::from_secs(10))
        .await;
}

#[actix_web::test]
async fn a_platform_with_an_internal_token_refuses_a_notify_without_it() {
    let (platform, center, activity) = platform_and_center(480).await;
    let applied = platform.member(9021).apply(activity).await;
    let order = center.member(9021).create_order(&applied).await;

    let forged = platform
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[("order_no", order.order_no), ("order_status", "1".into())],
        )
        .await;

    forged.expect_error(401, 4_010_000_000);
}

#[actix_web::test]
async fn an_unreachable_subsystem_creates_nothing() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let center = spawn_app_with(move |c| {
        c.no_demo = true;
        c.subsystem_timeout = 1;
        c.subsystem_urls = vec![format!("3001=http://{closed}")];
    })
    .await;

    let reply = center.member(9101).try_create_order("10001:1").await;

    reply.expect_error(502, 5_020_000_002);
}

/// The order center's call to `path` at `platform`, with the internal token.
async fn internal_call(platform: &TestApp, path: &str, form: &[(&str, String)]) -> Reply {
    platform
        .send(
            platform
                .client
                .post(platform.url(path))
                .bearer_auth("t0ken")
                .form(form),
        )
        .await
}

/// The bind (`applyOrderCreate`) of `member`'s `applied` to the order `order_no`.
fn bind(order_no: &str, member: u64, applied: &Applied) -> Form {
    vec![
        ("order_no", order_no.to_owned()),
        ("parent_order_no", format!("2013{}", &order_no[4..])),
        ("company_id", "421".into()),
        ("member_id", member.to_string()),
        ("business_id", "10000001".into()),
        ("sku_slice", applied.sku_slice.clone()),
    ]
}

const BIND: &str = "/activityPlatform/activity/applyOrderCreate";

#[actix_web::test]
async fn a_bind_arriving_after_its_order_was_closed_is_refused_and_leaves_the_apply_free() {
    let platform = spawn_app_with(|c| c.internal_token = Some("t0ken".into())).await;
    let applied = platform.member(9201).apply(1).await;
    // The order center gave the order up and said so before its bind arrived.
    let closed = internal_call(
        &platform,
        "/activityPlatform/activity/applyOrderNotify",
        &[
            ("order_no", "3001000000000000777".into()),
            ("order_status", "2".into()),
        ],
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.text);

    let late = internal_call(
        &platform,
        BIND,
        &bind("3001000000000000777", 9201, &applied),
    )
    .await;

    assert_eq!(
        (late.status, late.code()),
        (404, 4_040_000_002),
        "{}",
        late.text
    );
    // The apply is still free for a live order.
    let live = internal_call(
        &platform,
        BIND,
        &bind("3001000000000000888", 9201, &applied),
    )
    .await;
    assert_eq!(live.status, 200, "{}", live.text);
}

#[actix_web::test]
async fn a_repeated_bind_answers_the_same() {
    let platform = spawn_app_with(|c| c.internal_token = Some("t0ken".into())).await;
    let applied = platform.member(9211).apply(1).await;
    let form = bind("3001000000000000888", 9211, &applied);
    let first = internal_call(&platform, BIND, &form).await;

    let again = internal_call(&platform, BIND, &form).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(again.data(), first.data(), "idempotent on order_no");
}

#[actix_web::test]
async fn a_refund_asks_the_subsystem_over_http_for_its_deadline_and_tells_it_the_refund() {
    let (platform, center, activity) = platform_and_center(480).await;
    let applied = platform.member(9031).apply(activity).await;
    let member = center.member(9031);
    let order = member.create_order(&applied).await;
    member.pay(&order).await;
    assert_eq!(center.buyer_pays(&order.parent_order_no).await, 200);
    platform
        .member(9031)
        .wait_registered(applied.apply_info.apply_id)
        .await;

    let state = member.refund(&order).await;
    assert_eq!(state.status, crate::helpers::Status::Paid);

    member
        .wait_status(
            &order,
            crate::helpers::Status::Refunded,
            Duration::from_secs(15),
        )
        .await;
    // Through the center's outbox, over HTTP: order_status 3 released the seat.
    platform
        .wait_seats_left(activity, 1, Duration::from_secs(10))
        .await;
    let record = platform
        .member(9031)
        .apply_record(applied.apply_info.apply_id)
        .await;
    assert_eq!(record.status, crate::helpers::Registration::Cancelled);
}

#[actix_web::test]
async fn a_refund_past_the_deadline_a_subsystem_over_http_gave_is_refused() {
    let platform = spawn_app_with(|c| c.internal_token = Some(TOKEN.into())).await;
    let saved = platform
        .post_form(
            "/activityPlatform/activity/save",
            &[
                ("name", "远程活动".into()),
                ("price", "250".into()),
                ("seats", "1".into()),
                ("refund_deadline", "1".into()),
            ],
        )
        .await;
    let activity = saved.ok()["activity_id"].as_u64().unwrap();
    let base = platform.base.clone();
    let center = spawn_app_with(move |c| {
        c.no_demo = true;
        c.internal_token = Some(TOKEN.into());
        c.subsystem_urls = vec![format!("3001={base}")];
    })
    .await;
    let applied = platform.member(9041).apply(activity).await;
    let member = center.member(9041);
    let order = member.create_order(&applied).await;
    member.pay(&order).await;
    assert_eq!(center.buyer_pays(&order.parent_order_no).await, 200);
    member
        .wait_status(
            &order,
            crate::helpers::Status::Paid,
            Duration::from_secs(10),
        )
        .await;

    member
        .try_refund(&order, "late")
        .await
        .expect_error(403, 4_030_000_002);
}
