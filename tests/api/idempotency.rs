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

/// Whether the store in `dir` still holds each (`member`, `key`) (the app stopped).
async fn stored_keys(dir: &std::path::Path, keys: &[(u64, &'static str)]) -> Vec<bool> {
    use ordercenter::store::orders::OrderStore;
    use ordercenter::store::{Store, StoreConfig};
    let dir = dir.to_path_buf();
    let keys = keys.to_vec();
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&StoreConfig {
            data_dir: dir,
            cache_capacity: 8 << 20,
            disk_reserve_bytes: 0,
        })
        .expect("the store opens");
        let orders = OrderStore::open(&store).expect("order trees");
        let found = keys
            .iter()
            .map(|(member, key)| {
                let owner = ordercenter::domain::MemberRef {
                    company_id: crate::helpers::COMPANY,
                    member_id: *member,
                };
                orders.idempotency(owner, key).expect("readable").is_some()
            })
            .collect();
        drop(orders);
        store.close().expect("closes");
        found
    })
    .await
    .expect("reading the store")
}

#[actix_web::test]
async fn a_key_is_forgotten_after_its_time_and_then_makes_a_new_order() {
    let mut app = crate::helpers::spawn_app_with(|c| c.idempotency_ttl = 2).await;
    let member = app.member(8101);
    let applied = member.apply(1).await;
    let first: Order = create_with_key(member, &applied, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();
    member.cancel(first.parent_order_no.as_str()).await;
    let again = member.apply(1).await;
    create_with_key(member, &again, "key-1", SEED_HANDLE_INFO)
        .await
        .expect_error(409, 4_090_000_005);

    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    let second: Order = create_with_key(member, &again, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();
    let replay: Order = create_with_key(member, &again, "key-1", SEED_HANDLE_INFO)
        .await
        .ok_as();

    assert_ne!(second.parent_order_no, first.parent_order_no);
    assert_eq!(replay.parent_order_no, second.parent_order_no);
    app.stop().await;
    assert_eq!(
        stored_keys(app.dir.path(), &[(8101, "key-1")]).await,
        [true],
        "the key's new record was swept with the old one"
    );
}

#[actix_web::test]
async fn the_sweep_removes_expired_keys_from_disk_and_keeps_young_ones() {
    let mut app = crate::helpers::spawn_app_with(|c| c.idempotency_ttl = 2).await;
    let old = app.member(8111);
    let applied = old.apply(1).await;
    create_with_key(old, &applied, "old-key", SEED_HANDLE_INFO)
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    let young = app.member(8112);
    let applied = young.apply(1).await;
    let made: Order = create_with_key(young, &applied, "young-key", SEED_HANDLE_INFO)
        .await
        .ok_as();
    // The sweeps run every second: a young key survives them.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let replay: Order = create_with_key(young, &applied, "young-key", SEED_HANDLE_INFO)
        .await
        .ok_as();
    assert_eq!(replay.parent_order_no, made.parent_order_no);

    app.stop().await;
    assert_eq!(
        stored_keys(app.dir.path(), &[(8111, "old-key"), (8112, "young-key")]).await,
        [false, true],
        "the expired key is gone from disk, the young one kept"
    );
}
