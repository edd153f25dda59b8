//! Bad input gets a clear JSON error in the envelope, never a 500, and changes nothing.

use crate::helpers::{create_form, spawn_app, Form, Status};

fn without(form: &[(&'static str, String)], field: &str) -> Form {
    form.iter().filter(|(k, _)| *k != field).cloned().collect()
}

fn with(form: &[(&'static str, String)], field: &'static str, value: &str) -> Form {
    let mut changed = without(form, field);
    changed.push((field, value.to_owned()));
    changed
}

#[actix_web::test]
async fn create_refuses_missing_and_malformed_fields_by_name() {
    let app = spawn_app().await;
    let member = app.member(6001);
    let applied = member.apply(1).await;
    let good = create_form(member.id, &applied.sku_slice);
    let mut cases: Vec<(String, Form, &str)> = Vec::new();
    for field in [
        "company_id",
        "member_id",
        "business_id",
        "sys_id",
        "sku_slice",
        "business_type",
    ] {
        cases.push((format!("missing {field}"), without(&good, field), field));
    }
    for (field, value) in [
        ("company_id", "abc"),
        ("company_id", "-1"),
        ("company_id", "0"),
        ("member_id", "99999999999999999999999"),
        ("member_id", "1.5"),
        ("business_type", "30010"),
        ("business_type", "9999"),
        ("sku_slice", "34603"),
        ("sku_slice", "34603:0"),
        ("sku_slice", "a:1"),
        ("sku_slice", "1:1,1:1"),
        ("handle_info", "{not json"),
        ("handle_info", "[1,2]"),
        ("latitude", "91"),
        ("longitude", "east"),
        ("order_from", "x"),
    ] {
        cases.push((format!("{field}={value}"), with(&good, field, value), field));
    }
    let long_name = "x".repeat(5000);
    cases.push((
        "huge handle_info".into(),
        with(&good, "handle_info", &format!("{{\"a\":\"{long_name}\"}}")),
        "handle_info",
    ));
    for (what, form, field) in cases {
        let reply = app.post_form("/shop/order/create", &form).await;
        reply.expect_error(400, 4_000_000_001);
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{what}: message {message:?} does not name {field}"
        );
    }
    // Nothing was created along the way: the apply is still orderable.
    assert_eq!(member.create_order(&applied).await.status, Status::Unpaid);
}

#[actix_web::test]
async fn wire_level_errors_are_json() {
    let app = spawn_app().await;
    app.get("/no/such/path", &[])
        .await
        .expect_error(404, 4_040_000_000);
    app.get("/shop/order/create", &[])
        .await
        .expect_error(405, 4_050_000_000);
    app.post_raw("/shop/order/create", "text/plain", b"hello".to_vec())
        .await
        .expect_error(415, 4_150_000_000);
    app.post_raw(
        "/shop/order/create",
        "application/x-www-form-urlencoded",
        vec![b'a'; 200 * 1024],
    )
    .await
    .expect_error(413, 4_130_000_000);
    app.post_raw(
        "/shop/order/create",
        "application/x-www-form-urlencoded",
        b"member_id=%FF%FE".to_vec(),
    )
    .await
    .expect_error(400, 4_000_000_001);
    app.post_raw(
        "/shop/order/create",
        "application/json",
        b"[1,2,3]".to_vec(),
    )
    .await
    .expect_error(400, 4_000_000_001);
    app.post_raw(
        "/shop/order/create",
        "application/json",
        b"{\"member_id\":".to_vec(),
    )
    .await
    .expect_error(400, 4_000_000_001);
    app.post_raw(
        "/shop/order/state",
        "application/x-www-form-urlencoded",
        b"member_id=1&member_id=2".to_vec(),
    )
    .await
    .expect_error(400, 4_000_000_001);
}

#[actix_web::test]
async fn a_malformed_parent_order_no_is_invalid_input() {
    let app = spawn_app().await;

    let reply = app.member(1).try_state("12ab").await;

    reply.expect_error(400, 4_000_000_001);
}

#[actix_web::test]
async fn an_unknown_activity_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .get(
            "/activityPlatform/wxActivity/detail",
            &[("activity_id", "999999".into())],
        )
        .await;

    reply.expect_error(404, 4_040_000_002);
}

#[actix_web::test]
async fn admin_calls_need_the_token_when_one_is_configured() {
    let app = crate::helpers::spawn_app_with(|c| c.admin_token = Some("s3cret".into())).await;
    let form = [
        ("name", "活动".to_string()),
        ("price", "1".into()),
        ("seats", "1".into()),
    ];
    app.post_form("/activityPlatform/activity/save", &form)
        .await
        .expect_error(401, 4_010_000_000);
    let mut with_token = form.to_vec();
    with_token.push(("admin_token", "wrong".into()));
    app.post_form("/activityPlatform/activity/save", &with_token)
        .await
        .expect_error(401, 4_010_000_000);
    let response = app
        .client
        .post(format!("{}/activityPlatform/activity/save", app.base))
        .bearer_auth("s3cret")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
