//! The create and state responses carry every key of the seed's samples with the same JSON
//! types. The samples are read from the seed itself (a verbatim copy in tests/fixtures,
//! checked against ../shared/seed when that is present).

use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

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

#[actix_web::test]
async fn create_state_and_detail_have_the_seed_shape() {
    let app = spawn_app().await;
    let created = app.apply_and_create(32171, 1).await;
    let seed_create = sample_with("list");
    assert_same_shape(
        &seed_create,
        &serde_json::json!({"code": 200, "data": created, "message": "SUCCESS"}),
        "create",
    );

    // The seed's values where they are not per-order.
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
    let parent = created["parent_order_no"].as_str().unwrap();
    let order_no = order["order_no"].as_str().unwrap();
    assert!(parent.starts_with("2013") && parent.len() == 19, "{parent}");
    assert!(
        order_no.starts_with("3001") && order_no.len() == 19,
        "{order_no}"
    );
    assert_eq!(
        item["order_item_no"].as_str().unwrap(),
        format!("{order_no}001")
    );
    let c_time = order["c_time"].as_u64().unwrap();
    assert_eq!(created["expire_time"].as_u64().unwrap(), c_time + 480);

    let state = app.state(32171, parent).await;
    let seed_unpaid = seed_samples()
        .into_iter()
        .find(|s| s["data"]["transaction_status"] == "0" && s["data"].get("return_msg").is_some())
        .unwrap();
    assert_same_shape(&seed_unpaid, &state.body, "state");
    let data = state.ok();
    assert_eq!(data["transaction_msg"], "订单未支付");
    assert_eq!(data["return_msg"], "OK");
    assert_eq!(data["total_fee"].to_string(), "0.01");
    assert_eq!(
        data["time_end"].as_str().unwrap(),
        ordercenter::domain::time::format_china(c_time)
    );

    let detail = app
        .get(
            "/shop/order/detail",
            &[
                ("company_id", "421".into()),
                ("member_id", "32171".into()),
                ("parent_order_no", parent.into()),
            ],
        )
        .await;
    assert_same_shape(&seed_create["data"], detail.ok(), "detail");
    assert_same_shape(&seed_unpaid["data"], detail.ok(), "detail");
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
    assert_eq!(state.ok()["transaction_status"], "0");
}
