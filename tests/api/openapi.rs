//! The API document (`GET /openapi.json`) against the service itself: every route the
//! service mounts is documented and every documented operation answers; the documented
//! answers have the real shapes (same keys, same JSON types, field for field); and the demo
//! page, its assets and `/docs/` are served from the binary with JSON errors around them.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{test, web, App, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Status, TestApp, BUSINESS, COMPANY};

async fn document(app: &TestApp) -> Value {
    let reply = app.get("/openapi.json", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body.is_object(), "not JSON: {}", reply.text);
    reply.body
}

/// The patterns of every resource actix has mounted: the app as `startup` builds it (the
/// platform routes and the simulator's), asked through its own resource map.
async fn mounted_paths() -> BTreeSet<String> {
    let harness = crate::paysim::spawn_sim(crate::paysim::test_config()).await;
    let sim = harness.sim.clone();
    let app = test::init_service(
        App::new()
            .configure(ordercenter::http::configure)
            .configure(move |cfg| sim.configure(cfg))
            .default_service(web::to(|req: HttpRequest| async move {
                HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
            })),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/__resource_map__")
        .to_request();
    let map =
        String::from_utf8(test::call_and_read_body(&app, request).await.to_vec()).expect("utf-8");
    // `ResourceDef`'s Debug shows each pattern as `Single("/path")`.
    let mut paths = BTreeSet::new();
    for piece in map.split("Single(\"").skip(1) {
        let pattern = piece.split('"').next().unwrap_or_default();
        if pattern.starts_with('/') {
            paths.insert(openapi_path(pattern));
        }
    }
    assert!(
        paths.len() > 20,
        "the resource map did not list the routes (actix's Debug output changed?): {map:.2000}"
    );
    paths
}

/// `/docs/{file:.*}` → `/docs/{file}`.
fn openapi_path(pattern: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    let mut skipping = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                in_param = true;
                skipping = false;
                out.push(c);
            }
            '}' if in_param => {
                in_param = false;
                skipping = false;
                out.push(c);
            }
            ':' if in_param => skipping = true,
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

#[actix_web::test]
async fn every_mounted_route_is_documented_and_every_documented_operation_answers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let mounted = mounted_paths().await;
    let undocumented: Vec<&String> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not documented: {undocumented:?}"
    );
    let unmounted: Vec<&String> = documented.difference(&mounted).collect();
    assert!(
        unmounted.is_empty(),
        "documented but not mounted: {unmounted:?}"
    );

    // Real values for the documented parameters, so that each call reaches its handler.
    let member = 61001;
    let created = create_data(&app, member, 1).await;
    let parent = created["parent_order_no"]
        .as_str()
        .expect("parent")
        .to_owned();
    let paid = app.member(member).try_pay(parent.as_str()).await;
    let prepay_id = paid.ok()["prepay_id"].as_str().expect("prepay").to_owned();
    let apply_id = created["list"]["item"][0]["sku"]
        .as_str()
        .expect("sku")
        .to_owned();
    let values: BTreeMap<&str, String> = [
        ("company_id", COMPANY.to_string()),
        ("member_id", member.to_string()),
        ("business_id", BUSINESS.to_string()),
        ("parent_order_no", parent.clone()),
        ("activity_id", "1".to_owned()),
        ("apply_id", apply_id),
        ("prepay_id", prepay_id),
    ]
    .into_iter()
    .collect();

    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            ids.insert(id.clone()),
            "{method} {path}: operationId {id:?} not unique"
        );
        let url = format!("{}{}", app.base, path.replace("{file}", "index.html"));
        let query: Vec<(String, String)> = operation["parameters"]
            .as_array()
            .map(|parameters| {
                parameters
                    .iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| {
                        let name = p["name"].as_str()?;
                        values.get(name).map(|v| (name.to_owned(), v.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let request = match method.as_str() {
            "get" => app.client.get(&url),
            "post" => app.client.post(&url).form(&Vec::<(String, String)>::new()),
            other => panic!("{path}: unexpected method {other}"),
        };
        let response = request
            .query(&query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert!(
            status != 404 && status != 405 && envelope["code"] != 4_040_000_000u64,
            "{method} {path} is documented but answers {status}: {body:.300}"
        );
    }
}

/// Resolves `{"$ref": "#/components/schemas/X"}`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "$ref {reference} does not resolve");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `value` is what `schema` documents: every key documented and every required
/// key present, each with its documented type, all the way down.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let errors: Vec<String> = choices
            .iter()
            .filter_map(|choice| conforms(doc, choice, value, at).err())
            .collect();
        return if errors.len() < choices.len() {
            Ok(())
        } else {
            Err(errors.join(" / "))
        };
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            conforms(doc, part, value, at)?;
        }
    }
    let actual = json_type(value);
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits = |t: &str| t == actual || (t == "number" && actual == "integer");
    if !allowed.is_empty() && !allowed.iter().any(|t| fits(t)) {
        return Err(format!(
            "{at}: documented {allowed:?}, answered {actual} ({value})"
        ));
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(value) {
            return Err(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for key in object.keys() {
            if !properties.contains_key(key) {
                return Err(format!("{at}: answered {key:?}, which is not documented"));
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!(
                    "{at}: documented {key:?} as required, not answered"
                ));
            }
        }
        for (key, field) in object {
            conforms(doc, &properties[key], field, &format!("{at}.{key}"))?;
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks an answer against the operation's documented response for its HTTP status.
fn assert_documented(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not documented: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    if let Err(error) = conforms(doc, schema, body, "body") {
        panic!("{method} {path} {status}: {error}\nanswer: {body}");
    }
}

#[actix_web::test]
async fn the_documented_answers_are_the_real_ones_field_for_field() {
    let app = spawn_app_with(|c| {
        c.admin_token = Some("admin-secret".into());
        c.internal_token = Some("internal-secret".into());
    })
    .await;
    let doc = document(&app).await;
    let check = |method: &str, path: &str, reply: &crate::helpers::Reply| {
        assert_documented(&doc, method, path, reply.status, &reply.body)
    };

    let saved = app
        .post_form(
            "/activityPlatform/activity/save",
            &[
                ("name", "文档活动".into()),
                ("price", "1250".into()),
                ("seats", "5".into()),
                ("admin_token", "admin-secret".into()),
            ],
        )
        .await;
    check("post", "/activityPlatform/activity/save", &saved);
    let activity = saved.ok()["activity_id"].as_u64().expect("activity id");
    let refused = app
        .post_form("/activityPlatform/activity/save", &[("name", "x".into())])
        .await;
    check("post", "/activityPlatform/activity/save", &refused);

    let detail = app
        .get(
            "/activityPlatform/wxActivity/detail",
            &[("activity_id", activity.to_string())],
        )
        .await;
    check("get", "/activityPlatform/wxActivity/detail", &detail);

    let member = 62001;
    let applied = app.member(member).try_apply(activity).await;
    check("post", "/activityPlatform/wxActivity/apply", &applied);
    let apply_id = applied.ok()["apply_info"]["apply_id"].as_u64().expect("id");
    let sku = applied.ok()["sku_slice"].as_str().expect("sku").to_owned();
    let created = app.member(member).try_create_order(&sku).await;
    check("post", "/shop/order/create", &created);
    // The check itself: an undocumented key, a wrong type or a missing key is caught.
    let schema = &doc["paths"]["/shop/order/create"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    let mut extra = created.body.clone();
    extra["data"]["list"]["order"]["surprise"] = json!(1);
    let mut retyped = created.body.clone();
    retyped["data"]["list"]["order"]["business_type"] = json!(3001);
    let mut missing = created.body.clone();
    missing["data"]["list"]["item"][0]
        .as_object_mut()
        .expect("item")
        .remove("sku_price");
    for wrong in [extra, retyped, missing] {
        assert!(
            conforms(&doc, schema, &wrong, "body").is_err(),
            "not caught: {wrong}"
        );
    }
    let parent = created.ok()["parent_order_no"]
        .as_str()
        .expect("no")
        .to_owned();
    let again = app.member(member).try_apply(activity).await;
    again.expect_error(409, 4_001_009_999);
    check("post", "/activityPlatform/wxActivity/apply", &again);

    let order_query = [
        ("company_id", COMPANY.to_string()),
        ("member_id", member.to_string()),
        ("parent_order_no", parent.clone()),
    ];
    let state = app.get("/shop/order/state", &order_query).await;
    check("get", "/shop/order/state", &state);
    let paid = app.member(member).try_pay(parent.as_str()).await;
    check("post", "/shop/order/pay", &paid);
    assert_eq!(app.buyer_pays(&parent).await, 200);
    app.member(member)
        .wait_status(
            parent.as_str(),
            Status::Paid,
            std::time::Duration::from_secs(10),
        )
        .await;
    let state = app
        .member(member)
        .try_state(parent.as_str())
        .await
        .ok()
        .clone();
    assert_documented(
        &doc,
        "post",
        "/shop/order/state",
        200,
        &json!({"code": 200, "data": state, "message": "SUCCESS"}),
    );
    let detail = app.post_form("/shop/order/detail", &order_query).await;
    check("post", "/shop/order/detail", &detail);
    let admin_path = format!("/admin/orders/{parent}");
    let admin = app
        .get(&admin_path, &[("admin_token", "admin-secret".into())])
        .await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    check("get", "/admin/orders/{parent_order_no}", &admin);
    let admin_refused = app.get(&admin_path, &[]).await;
    check("get", "/admin/orders/{parent_order_no}", &admin_refused);
    let paid_again = app.member(member).try_pay(parent.as_str()).await;
    check("post", "/shop/order/pay", &paid_again);
    let info = app
        .get(
            "/activityPlatform/wxActivity/applyInfo",
            &[
                ("apply_id", apply_id.to_string()),
                ("member_id", member.to_string()),
                ("company_id", COMPANY.to_string()),
            ],
        )
        .await;
    check("get", "/activityPlatform/wxActivity/applyInfo", &info);
    let missing = app.get("/shop/order/state", &order_query[..2]).await;
    check("get", "/shop/order/state", &missing);
    let strangers = app.member(member + 1).try_state(parent.as_str()).await;
    check("post", "/shop/order/state", &strangers);

    // A second member cancels; the subsystem's own endpoints answer the order center.
    let other = member + 2;
    let created = create_data(&app, other, activity).await;
    let other_parent = created["parent_order_no"].as_str().expect("no").to_owned();
    let cancelled = app.member(other).try_cancel(other_parent.as_str()).await;
    check("post", "/shop/order/cancel", &cancelled);
    let third = app.member(member + 3).try_apply(activity).await;
    let third_sku = third.ok()["sku_slice"].as_str().expect("sku").to_owned();
    let bound = app
        .post_form(
            "/activityPlatform/activity/applyOrderCreate",
            &[
                ("order_no", "3001000000000000001".into()),
                ("parent_order_no", "2013000000000000001".into()),
                ("company_id", COMPANY.to_string()),
                ("member_id", (member + 3).to_string()),
                ("business_id", BUSINESS.to_string()),
                ("sku_slice", third_sku),
                ("internal_token", "internal-secret".into()),
            ],
        )
        .await;
    check(
        "post",
        "/activityPlatform/activity/applyOrderCreate",
        &bound,
    );
    bound.ok();
    let notified = app
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[
                ("order_no", "3001000000000000001".into()),
                ("parent_order_no", "2013000000000000001".into()),
                ("order_status", "2".into()),
                ("internal_token", "internal-secret".into()),
            ],
        )
        .await;
    check(
        "post",
        "/activityPlatform/activity/applyOrderNotify",
        &notified,
    );
    notified.ok();
    let unauthorized = app
        .post_form(
            "/activityPlatform/activity/applyOrderNotify",
            &[("order_no", "3001000000000000001".into())],
        )
        .await;
    check(
        "post",
        "/activityPlatform/activity/applyOrderNotify",
        &unauthorized,
    );
}

#[actix_web::test]
async fn the_document_carries_the_seed_samples_and_every_error_code() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let create = &doc["paths"]["/shop/order/create"]["post"];
    let forms = &create["requestBody"]["content"];
    assert!(forms["application/x-www-form-urlencoded"].is_object());
    assert!(forms["application/json"].is_object());
    assert_eq!(
        forms["application/x-www-form-urlencoded"]["example"]["sku_slice"],
        "34603:1"
    );
    let seed = &create["responses"]["200"]["content"]["application/json"]["examples"]
        ["create_response"]["value"];
    assert_eq!(
        seed["data"]["list"]["order"]["parent_order_no"],
        "2013150001004525628"
    );
    // The seed's sample is itself a documented answer.
    assert_documented(&doc, "post", "/shop/order/create", 200, seed);
    let pending = &create["responses"]["409"]["content"]["application/json"]["examples"]
        ["4001009999 pending_order"]["value"];
    assert_eq!(pending["data"]["parent_order_no"], "2013150001004525628");
    let description = doc["info"]["description"].as_str().expect("description");
    for code in [
        "4000000001",
        "4001009999",
        "4030000001",
        "4040000001",
        "4040000002",
        "4090000001",
        "4090000002",
        "4090000003",
        "4090000004",
        "4090000005",
        "4010000000",
        "4040000000",
        "4050000000",
        "4130000000",
        "4150000000",
        "5020000001",
        "5020000002",
        "5030000000",
        "5000000000",
    ] {
        assert!(description.contains(code), "{code} not in the table");
    }
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            for example in response["content"]["application/json"]["examples"]
                .as_object()
                .into_iter()
                .flat_map(|examples| examples.values())
            {
                let code = status.parse::<u16>().expect("status");
                assert_documented(&doc, &method, &path, code, &example["value"]);
            }
        }
    }
}

#[actix_web::test]
async fn the_demo_page_and_the_docs_are_served_from_the_binary_with_json_errors_around_them() {
    let app = spawn_app().await;
    let page = app.client.get(&app.base).send().await.expect("GET /");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/html")));
    let html = page.text().await.expect("page");
    for id in [
        "name",
        "phone",
        "apply-button",
        "pay-button",
        "result",
        "countdown",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"{id}\"")),
            "data-testid={id} missing"
        );
    }
    for asset in [
        "/demo/demo.js",
        "/demo/demo.css",
        "/docs/",
        "/docs/swagger-ui-bundle.js",
    ] {
        let reply = app
            .client
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .expect(asset);
        assert_eq!(reply.status().as_u16(), 200, "{asset}");
    }
    let initializer = app
        .client
        .get(format!("{}/docs/swagger-initializer.js", app.base))
        .send()
        .await
        .expect("initializer")
        .text()
        .await
        .expect("initializer text");
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "no online validator"
    );
    let home = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .expect("GET /docs");
    assert_eq!(home.status().as_u16(), 308);
    assert_eq!(home.headers()["location"], "/docs/");

    app.get("/docs/no-such-file.js", &[])
        .await
        .expect_error(404, 4_040_000_000);
    for path in ["/", "/openapi.json", "/docs/", "/demo/demo.js"] {
        app.post_form(path, &[("x", "1".into())])
            .await
            .expect_error(405, 4_050_000_000);
    }
    let odd = app
        .get(
            "/",
            &[
                ("member_id", "<script>".into()),
                ("activity_id", "1,,x".into()),
            ],
        )
        .await;
    assert_eq!(odd.status, 200, "the page reads its query itself");
}

/// `data` of `shop/order/create` for a new apply of `member`, as raw JSON (the document is
/// checked against the raw answer).
async fn create_data(app: &TestApp, member: u64, activity: u64) -> Value {
    let member = app.member(member);
    let applied = member.apply(activity).await;
    member
        .try_create_order(&applied.sku_slice)
        .await
        .ok()
        .clone()
}
