//! The create and state responses carry every key of the seed's samples with the same JSON
//! types. The samples are read from the seed itself (a verbatim copy in tests/fixtures,
//! checked against ../shared/seed when that is present).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, State, Status, TestApp};

const SEED: &str = include_str!("../fixtures/seed_000_9774272d3286e3de.txt");

/// Every JSON object line of the seed, in order: create, pay, state unpaid, state paid.
pub fn seed_samples() -> Vec<Value> {
    SEED.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("{\"code\""))
        .map(|line| serde_json::from_str(line).expect("seed sample is JSON"))
        .collect()
}

fn sample_with(key: &str) -> Value {
    seed_samples()
        .into_iter()
        .find(|s| s["data"].get(key).is_some())
        .unwrap_or_else(|| panic!("seed has a sample with data.{key}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts `ours` has every key of `seed` (recursively) with the same JSON type.
pub fn assert_same_shape(seed: &Value, ours: &Value, path: &str) {
    assert_eq!(
        kind(seed),
        kind(ours),
        "{path}: seed has {seed}, we have {ours}"
    );
    match (seed, ours) {
        (Value::Object(seed), Value::Object(ours)) => {
            for (key, value) in seed {
                let here = format!("{path}.{key}");
                let mine = ours.get(key).unwrap_or_else(|| panic!("{here} missing"));
                assert_same_shape(value, mine, &here);
            }
        }
        (Value::Array(seed), Value::Array(ours)) => {
            assert!(!ours.is_empty(), "{path} is empty");
            if let Some(first) = seed.first() {
                for (index, mine) in ours.iter().enumerate() {
                    assert_same_shape(first, mine, &format!("{path}[{index}]"));
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_fixture_is_the_seed() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seed/000_9774272d3286e3de.txt");
    if let Ok(original) = std::fs::read_to_string(shared) {
        assert_eq!(original, SEED, "tests/fixtures copy differs from the seed");
    }
    assert_eq!(
        seed_samples().len(),
        4,
        "create, pay, state unpaid, state paid"
    );
}

/// The seed's member orders the demo activity; returns the create answer's `data`.
async fn seed_create(app: &TestApp) -> Value {
    let member = app.member(SEED_MEMBER);
    let applied = member.apply(1).await;
    member
        .try_create_order(&applied.sku_slice)
        .await
        .ok()
        .clone()
}

/// The member of the seed's samples.
const SEED_MEMBER: u64 = 32171;

fn seed_unpaid_state() -> Value {
    seed_samples()
        .into_iter()
        .find(|s| s["data"]["transaction_status"] == "0" && s["data"].get("return_msg").is_some())
        .expect("the seed has an unpaid state")
}

#[actix_web::test]
async fn create_answers_in_the_seeds_shape() {
    let app = spawn_app().await;

    let created = seed_create(&app).await;

    assert_same_shape(
        &sample_with("list"),
        &json!({"code": 200, "data": created, "message": "SUCCESS"}),
        "create",
    );
}

#[actix_web::test]
async fn create_carries_the_seeds_values_where_they_are_not_per_order() {
    let app = spawn_app().await;

    let created = seed_create(&app).await;

    let order = &created["list"]["order"];
    let item = &created["list"]["item"][0];
    assert_eq!(created["overdue_time"], 480);
    assert_eq!(created["payment_way"], "0");
    assert_eq!(order["business_type"], "3001");
    assert_eq!(order["order_subject"], "活动报名订单");
    assert_eq!(order["order_price"].to_string(), "0.01");
    assert_eq!(order["trade_no"], "0");
    assert_eq!(item["sku_name"], "欢乐活动");
    assert_eq!(item["sku_price"].to_string(), "0.01");
    assert_eq!(created["list"]["extra"]["user_info"], "张文林 15976123893");
}

#[actix_web::test]
async fn order_numbers_have_the_seeds_prefixes_and_lengths() {
    let app = spawn_app().await;

    let created = seed_create(&app).await;

    let parent = created["parent_order_no"].as_str().unwrap();
    let order_no = created["list"]["order"]["order_no"].as_str().unwrap();
    assert!(parent.starts_with("2013") && parent.len() == 19, "{parent}");
    assert!(
        order_no.starts_with("3001") && order_no.len() == 19,
        "{order_no}"
    );
    assert_eq!(
        created["list"]["item"][0]["order_item_no"]
            .as_str()
            .unwrap(),
        format!("{order_no}001")
    );
}

#[actix_web::test]
async fn the_deadline_is_the_seeds_480_seconds_after_creation() {
    let app = spawn_app().await;

    let created = seed_create(&app).await;

    let c_time = created["list"]["order"]["c_time"].as_u64().unwrap();
    assert_eq!(created["expire_time"].as_u64().unwrap(), c_time + 480);
}

#[actix_web::test]
async fn the_state_of_an_unpaid_order_has_the_seeds_shape_and_values() {
    let app = spawn_app().await;
    let created = seed_create(&app).await;
    let parent = created["parent_order_no"].as_str().unwrap();

    let state = app.member(SEED_MEMBER).try_state(parent).await;

    assert_same_shape(&seed_unpaid_state(), &state.body, "state");
    let data = state.ok();
    assert_eq!(data["transaction_msg"], "订单未支付");
    assert_eq!(data["return_msg"], "OK");
    assert_eq!(data["total_fee"].to_string(), "0.01");
    let c_time = created["list"]["order"]["c_time"].as_u64().unwrap();
    assert_eq!(
        data["time_end"].as_str().unwrap(),
        ordercenter::domain::time::format_china(c_time)
    );
}

#[actix_web::test]
async fn the_detail_has_both_the_create_and_the_state_shape() {
    let app = spawn_app().await;
    let created = seed_create(&app).await;
    let parent = created["parent_order_no"].as_str().unwrap();

    let detail = app
        .get(
            "/shop/order/detail",
            &[
                ("company_id", "421".into()),
                ("member_id", SEED_MEMBER.to_string()),
                ("parent_order_no", parent.into()),
            ],
        )
        .await;

    assert_same_shape(&sample_with("list")["data"], detail.ok(), "detail");
    assert_same_shape(&seed_unpaid_state()["data"], detail.ok(), "detail");
}

#[actix_web::test]
async fn json_and_query_input_work_like_the_form() {
    let app: TestApp = spawn_app().await;
    let applied = app
        .post_json(
            "/activityPlatform/wxActivity/apply",
            &serde_json::json!({"company_id": 421, "member_id": 7, "business_id": "10000001", "activity_id": 1, "name": "李四", "phone": "13800000000"}),
        )
        .await;
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();

    let created = app
        .post_json(
            "/shop/order/create",
            &serde_json::json!({"company_id": "421", "member_id": 7, "business_id": 10000001, "sys_id": 30,
                "sku_slice": sku_slice, "business_type": 3001, "request_id": "ppsport", "handle_info": {"platform_id": 3}}),
        )
        .await;
    let parent = created.ok()["parent_order_no"].as_str().unwrap().to_owned();
    let state = app
        .get(
            "/shop/order/state",
            &[
                ("company_id", "421".into()),
                ("member_id", "7".into()),
                ("parent_order_no", parent),
            ],
        )
        .await;

    assert_eq!(state.ok_as::<State>().status, Status::Unpaid);
}
