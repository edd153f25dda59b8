//! `Idempotency-Key` on `shop/order/create` (SPEC §2).

use futures::future::join_all;

use crate::helpers::{spawn_app, Reply, TestApp};

async fn create_with_key(
    app: &TestApp,
    member: u64,
    sku_slice: &str,
    key: &str,
    handle_info: &str,
) -> Reply {
    let mut form = TestApp::create_form(member, sku_slice);
    form.retain(|(k, _)| *k != "handle_info");
    form.push(("handle_info", handle_info.to_owned()));
    let response = app
        .client
        .post(format!("{}/shop/order/create", app.base))
        .header("Idempotency-Key", key)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or_default(),
        text,
    }
}

async fn sku_for(app: &TestApp, member: u64) -> String {
    app.apply(member, 1).await.ok()["sku_slice"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_replay_returns_the_same_order_and_other_parameters_are_refused() {
    let app = spawn_app().await;
    let sku = sku_for(&app, 8001).await;
    let first = create_with_key(&app, 8001, &sku, "key-1", r#"{"platform_id":3}"#).await;
    let replay = create_with_key(&app, 8001, &sku, "key-1", r#"{"platform_id":3}"#).await;
    assert_eq!(
        first.ok()["parent_order_no"],
        replay.ok()["parent_order_no"]
    );
    assert_eq!(
        first.ok()["list"]["order"]["id"],
        replay.ok()["list"]["order"]["id"]
    );
    create_with_key(&app, 8001, &sku, "key-1", r#"{"platform_id":4}"#)
        .await
        .expect_error(409, 4_090_000_005);
    // The field works like the header.
    let mut form = TestApp::create_form(8001, &sku);
    form.push(("idempotency_key", "key-1".into()));
    let by_field = app.post_form("/shop/order/create", &form).await;
    assert_eq!(
        by_field.ok()["parent_order_no"],
        first.ok()["parent_order_no"]
    );
    // Keys belong to their member.
    let other_sku = sku_for(&app, 8002).await;
    let other = create_with_key(&app, 8002, &other_sku, "key-1", r#"{"platform_id":3}"#).await;
    assert_ne!(other.ok()["parent_order_no"], first.ok()["parent_order_no"]);
}

#[actix_web::test]
async fn concurrent_repeats_of_one_key_make_one_order() {
    let app = spawn_app().await;
    let sku = sku_for(&app, 8101).await;
    let replies = join_all(
        (0..12).map(|_| create_with_key(&app, 8101, &sku, "same-key", r#"{"platform_id":3}"#)),
    )
    .await;
    let orders: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| r.ok()["parent_order_no"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(orders.len(), 1, "one order for one key: {orders:?}");
}

#[actix_web::test]
async fn malformed_keys_are_refused() {
    let app = spawn_app().await;
    let sku = sku_for(&app, 8201).await;
    let long = "k".repeat(65);
    create_with_key(&app, 8201, &sku, &long, r#"{"platform_id":3}"#)
        .await
        .expect_error(400, 4_000_000_001);
    create_with_key(&app, 8201, &sku, "has space", r#"{"platform_id":3}"#)
        .await
        .expect_error(400, 4_000_000_001);
}
