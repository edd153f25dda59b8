//! `Idempotency-Key` on `shop/order/create` (SPEC §2).

use std::collections::HashSet;

use futures::future::join_all;

use crate::helpers::{create_form, spawn_app, Applied, Member, Order, Reply};

/// The `handle_info` of the seed's create form.
const SEED_HANDLE_INFO: &str = r#"{"platform_id":3}"#;

/// The seed's create for `applied` under `key`, with `handle_info` as given.
async fn create_with_key(
    member: Member<'_>,
    applied: &Applied,
    key: &str,
    handle_info: &str,
) -> Reply {
    let mut form = create_form(member.id, &applied.sku_slice);
    form.retain(|(field, _)| *field != "handle_info");
    form.push(("handle_info", handle_info.to_owned()));
    member
        .app()
        .post_form_with_key("/shop/order/create", key, &form)
        .await
}

#[actix_web::test]
async fn a_replay_with_the_same_key_returns_the_same_order() {
    let app = spawn_app().await;
    let member = app.member(8001);
    let applied = member.apply(1).await;

    let first: Order = create_with_key(member, &applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();
    let replay: Order = create_with_key(member, &applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();

    assert_eq!(first.parent_order_no, replay.parent_order_no);
    assert_eq!(first.id, replay.id);
}

#[actix_web::test]
async fn the_same_key_with_other_parameters_is_refused() {
    let app = spawn_app().await;
    let member = app.member(8011);
    let applied = member.apply(1).await;
    create_with_key(member, &applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok();

    let other = create_with_key(member, &applied, "key-1", r#"{"platform_id":4}"#).await;

    other.expect_error(409, 4_090_000_005);
}

#[actix_web::test]
async fn the_idempotency_key_field_works_like_the_header() {
    let app = spawn_app().await;
    let member = app.member(8021);
    let applied = member.apply(1).await;
    let by_header: Order = create_with_key(member, &applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();

    let mut form = create_form(member.id, &applied.sku_slice);
    form.push(("idempotency_key", "key-1".into()));
    let by_field: Order = app.post_form("/shop/order/create", &form).await.ok_as();

    assert_eq!(by_field.parent_order_no, by_header.parent_order_no);
}

#[actix_web::test]
async fn a_key_belongs_to_its_member() {
    let app = spawn_app().await;
    let (first_member, other_member) = (app.member(8031), app.member(8032));
    let first_applied = first_member.apply(1).await;
    let other_applied = other_member.apply(1).await;
    let first: Order = create_with_key(first_member, &first_applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();

    let other: Order = create_with_key(other_member, &other_applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();

    assert_ne!(other.parent_order_no, first.parent_order_no);
}

#[actix_web::test]
async fn concurrent_repeats_of_one_key_make_one_order() {
    let app = spawn_app().await;
    let member = app.member(8101);
    let applied = member.apply(1).await;

    let replies =
        join_all((0..12).map(|_| create_with_key(member, &applied, "same-key", SEED_HANDLE_INFO)))
            .await;

    let orders: HashSet<String> = replies
        .iter()
        .map(|reply| reply.ok_as::<Order>().parent_order_no)
        .collect();
    assert_eq!(orders.len(), 1, "one order for one key: {orders:?}");
}

#[actix_web::test]
async fn malformed_keys_are_refused() {
    let app = spawn_app().await;
    let member = app.member(8201);
    let applied = member.apply(1).await;

    let long = create_with_key(member, &applied, &"k".repeat(65), SEED_HANDLE_INFO).await;
    let spaced = create_with_key(member, &applied, "has space", SEED_HANDLE_INFO).await;

    long.expect_error(400, 4_000_000_001);
    spaced.expect_error(400, 4_000_000_001);
}
