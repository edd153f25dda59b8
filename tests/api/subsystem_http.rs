//! The order center reaching the activity platform over HTTP (base URL per business_type).

use std::time::Duration;

use crate::helpers::{eventually, spawn_app_with};

#[actix_web::test]
async fn orders_are_priced_and_released_by_a_subsystem_over_http() {
    let platform = spawn_app_with(|c| c.internal_token = Some("internal-secret".into())).await;
    let activity = platform.save_activity("远程活动", 250, 1).await;
    let base = platform.base.clone();
    let center = spawn_app_with(move |c| {
        c.order_ttl = 2;
        c.no_demo = true;
        c.internal_token = Some("internal-secret".into());
        c.subsystem_urls = vec![format!("3001={base}")];
    })
    .await;

    let applied = platform.apply(9001, activity).await;
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
    let created = center.create(9001, &sku_slice).await;
    let data = created.ok();
    assert_eq!(data["list"]["item"][0]["sku_name"], "远程活动");
    assert_eq!(data["list"]["order"]["order_price"].to_string(), "2.5");
    let apply_id = applied.ok()["apply_info"]["apply_id"].as_u64().unwrap();
    let info = platform
        .get(
            "/activityPlatform/wxActivity/applyInfo",
            &[
                ("apply_id", apply_id.to_string()),
                ("member_id", "9001".into()),
                ("company_id", "421".into()),
            ],
        )
        .await;
    assert_eq!(
        info.ok()["parent_order_no"],
        data["parent_order_no"],
        "the platform recorded its side"
    );

    // Expiry at the center reaches the platform through the outbox, over HTTP.
    eventually(
        Duration::from_secs(10),
        "the remote seat to be released",
        || async { (platform.activity_json(activity).await["seats_left"] == 1).then_some(()) },
    )
    .await;

    // Without the token the platform refuses the order center's calls.
    let forged = platform
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[
                (
                    "order_no",
                    data["list"]["order"]["order_no"].as_str().unwrap().into(),
                ),
                ("order_status", "1".into()),
            ],
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
    let reply = center.create(9101, "10001:1").await;
    reply.expect_error(502, 5_020_000_002);
}

#[actix_web::test]
async fn a_bind_arriving_after_its_order_was_closed_is_refused() {
    let platform = spawn_app_with(|c| c.internal_token = Some("t0ken".into())).await;
    let applied = platform.apply(9201, 1).await;
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
    let call = |path: &'static str, form: Vec<(&'static str, String)>| {
        let platform = &platform;
        async move {
            let response = platform
                .client
                .post(format!("{}{path}", platform.base))
                .bearer_auth("t0ken")
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let bind = |order_no: &str| {
        vec![
            ("order_no", order_no.to_owned()),
            ("parent_order_no", format!("2013{}", &order_no[4..])),
            ("company_id", "421".into()),
            ("member_id", "9201".into()),
            ("business_id", "10000001".into()),
            ("sku_slice", sku_slice.clone()),
        ]
    };
    // The order center gave the order up and said so before its bind arrived.
    let closed = call(
        "/activityPlatform/activity/applyOrderNotify",
        vec![
            ("order_no", "3001000000000000777".into()),
            ("order_status", "2".into()),
        ],
    )
    .await;
    assert_eq!(closed.0, 200, "{}", closed.1);
    let late = call(
        "/activityPlatform/activity/applyOrderCreate",
        bind("3001000000000000777"),
    )
    .await;
    assert_eq!(
        (late.0, late.1["code"].as_u64()),
        (404, Some(4_040_000_002)),
        "{}",
        late.1
    );
    // The apply is still free for a live order.
    let live = call(
        "/activityPlatform/activity/applyOrderCreate",
        bind("3001000000000000888"),
    )
    .await;
    assert_eq!(live.0, 200, "{}", live.1);
    let again = call(
        "/activityPlatform/activity/applyOrderCreate",
        bind("3001000000000000888"),
    )
    .await;
    assert_eq!(again.1["data"], live.1["data"], "idempotent on order_no");
}
