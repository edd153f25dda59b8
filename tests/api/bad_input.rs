//! Every endpoint × every kind of bad input (SPEC §2): the JSON envelope with the right 4xx
//! code, the offending field named, never a 5xx or a non-JSON body — and nothing changes.

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{create_form, spawn_app, Order, Reply, TestApp, BUSINESS, COMPANY};

/// Owns the real order and apply.
const OWNER: u64 = 7001;
/// Has not applied: a good apply as this member would take a seat.
const NEWCOMER: u64 = 7002;
const INVALID: (u16, u64) = (400, 4_000_000_001);
const UNAUTHORIZED: (u16, u64) = (401, 4_010_000_000);
const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const POST: Method = Method::POST;

/// One endpoint a paragraph: access (`post`, `read` = GET too, `internal` = needs a token
/// this app does not give: the internal token, or the admin token `adminRefund` needs and
/// an app without one refuses; its field checks with a token are in `refunds.rs`), path, its fields (`?` = optional), `=`, a request that would succeed (or, for
/// `internal`, be authorised) with `$…` filled in from the arranged order.
const ENDPOINTS: &str = "
post /shop/order/create company_id member_id business_id sys_id sku_slice business_type
    request_id? handle_info? order_from? sales_id? idempotency_key? latitude? longitude? city_id?
    = $create
post /shop/order/pay company_id member_id parent_order_no payment_way extend_field? open_id?
    latitude? longitude? city_id? = $caller parent_order_no=$parent payment_way=110
    extend_field={\"msg_type\":\"wx.unifiedOrder\"}
post /shop/order/cancel company_id member_id parent_order_no latitude? longitude? city_id?
    = $caller parent_order_no=$parent
read /shop/order/state company_id member_id parent_order_no latitude? longitude? city_id?
    = $caller parent_order_no=$parent
read /shop/order/detail company_id member_id parent_order_no latitude? longitude? city_id?
    = $caller parent_order_no=$parent
post /activityPlatform/activity/save name price seats start_time? end_time? per_member_limit?
    stadium_name? refund_deadline? = name=坏 price=1 seats=5
post /activityPlatform/wxActivity/apply company_id member_id business_id activity_id name phone
    apply_info? waitlist? latitude? longitude? city_id? = company_id=$company member_id=$newcomer
    business_id=$business activity_id=$activity name=张文林 phone=15976123893
read /activityPlatform/wxActivity/detail activity_id = activity_id=$activity
read /activityPlatform/wxActivity/applyInfo apply_id member_id company_id
    = apply_id=$apply $caller
internal /activityPlatform/activity/applyOrderCreate order_no parent_order_no company_id
    member_id business_id sku_slice handle_info? internal_token? = order_no=$child
    parent_order_no=$parent company_id=$company member_id=$newcomer business_id=$business
    sku_slice=$sku
internal /activityPlatform/activity/applyOrderNotify order_no parent_order_no? order_status
    internal_token? = order_no=$child parent_order_no=$parent order_status=1
post /shop/order/refund company_id member_id parent_order_no reason? latitude? longitude?
    city_id? = $caller parent_order_no=$parent reason=行程有变
internal /shop/order/adminRefund parent_order_no reason admin_token? = parent_order_no=$parent
    reason=活动取消
internal /activityPlatform/activity/applyOrderRefundDeadline order_no parent_order_no?
    internal_token? = order_no=$child parent_order_no=$parent
read /shop/order/list company_id member_id business_id? status? limit? cursor? latitude?
    longitude? city_id? = $caller
post /activityPlatform/wxActivity/cancelApply company_id member_id business_id? apply_id
    latitude? longitude? city_id? = $caller apply_id=$apply
";

/// Well-formed, but nobody's or someone else's: path, `:`, replacements, `:`, code.
const NOT_FOUND: &str = "
/shop/order/pay : parent_order_no=2013000000000000001 parent_order_no=$child : 4040000001
/shop/order/pay /shop/order/cancel : member_id=7999 company_id=422 : 4040000001
/shop/order/cancel : parent_order_no=2013000000000000001 parent_order_no=$child : 4040000001
/shop/order/state /shop/order/detail : parent_order_no=2013000000000000001 : 4040000001
/shop/order/state /shop/order/detail : parent_order_no=$child : 4040000001
/shop/order/state /shop/order/detail : member_id=7999 company_id=422 : 4040000001
/shop/order/refund : parent_order_no=2013000000000000001 : 4040000001
/shop/order/refund : parent_order_no=$child : 4040000001
/shop/order/refund : member_id=7999 company_id=422 : 4040000001
/shop/order/create : sku_slice=999999:1 member_id=7999 : 4040000002
/activityPlatform/wxActivity/apply : activity_id=999999 : 4040000002
/activityPlatform/wxActivity/detail : activity_id=999999 : 4040000002
/activityPlatform/wxActivity/applyInfo : apply_id=999999 member_id=7999 company_id=422 : 4040000002
/activityPlatform/wxActivity/cancelApply : apply_id=999999 member_id=7999 company_id=422 : 4040000002
";

/// Bad in any numeric field: letters, radix, exponent, hostile text, control and bidi
/// characters, emoji, full-width digits, literal percent signs, decimals, negatives, overflow.
const NOT_A_NUMBER: &str = "abc|12a|1e3|0x10|1 2|NaN|inf|<script>alert(1)</script>|\
    1'; DROP TABLE orders;--|1\u{0}|\u{202E}12|😀|１２|%FF%FE|99999999999999999999999|\
    18446744073709551616|1.5|-1";

/// Bad values of a field, by name (the field table is shared by all endpoints).
fn bad_texts(field: &str) -> Vec<String> {
    let split = |list: &str| list.split('|').map(String::from).collect::<Vec<_>>();
    let text = |max: usize| {
        let mut bad = split("a\u{0}b|a\u{1b}[2Jb|a\u{7f}b|a\nb");
        bad.extend(["x".repeat(max + 1), "x".repeat(10_000)]);
        bad
    };
    let number = |out_of_range: &str| split(&format!("{NOT_A_NUMBER}|{out_of_range}"));
    match field {
        "latitude" | "longitude" => split("abc|1e3|0x10|NaN|inf|1 2|999|1.2.3|--1|+1|😀|1\u{0}"),
        "parent_order_no" => number("0|123|-201300000000000000"),
        "name" | "request_id" | "idempotency_key" | "stadium_name" | "order_no" => text(64),
        "open_id" | "admin_token" | "internal_token" | "reason" => text(256),
        "phone" => [
            text(20),
            split("<script>|1'; DROP TABLE|😀|\u{202E}123|abc"),
        ]
        .concat(),
        "handle_info" | "extend_field" | "apply_info" => {
            let mut bad = split("{not json|[1,2]|\"s\"|42|null|true");
            bad.push(format!("{{\"a\":\"{}\"}}", "x".repeat(10_000)));
            bad
        }
        "sku_slice" => {
            let mut bad = split("abc|a:1|1:0|1:-1|1:1.5|-1:1|:|1:|1:1:1|1;1|<script>:1|1\u{0}:1");
            bad.extend(["18446744073709551616:1".into(), "9:1,".repeat(300)]);
            bad
        }
        "business_type" => number("0|999|10000"),
        "payment_way" => number("0|111|9999"),
        "price" => number("10000000001"),
        "seats" => number("0|10000001"),
        "start_time" | "end_time" | "refund_deadline" => number("32503680001"),
        "per_member_limit" => number("0|1001"),
        "order_from" => number("100"),
        "sales_id" => number("1000000000000"),
        "order_status" => number("10"),
        "status" => number("4"),
        "waitlist" => number("2"),
        "limit" => number("0|101"),
        "cursor" => [
            text(20),
            split("0|abc|-1|1.5|1e3|0x10|+1|😀|99999999999999999999"),
        ]
        .concat(),
        _ => number("0"), // every other *_id: 1 to 10^18
    }
}

/// Wrongly typed JSON values of a field (a JSON body only); `null` where one is required.
fn bad_json(field: &str, required: bool) -> Vec<Value> {
    let object = field.ends_with("_info") || field == "extend_field";
    let coordinate = field.ends_with("itude");
    let numeric = !coordinate && bad_texts(field).iter().any(|v| v == "0x10");
    let mut bad = vec![json!([1]), json!(true), json!(false)];
    bad.extend((!object).then(|| json!({"a": 1})));
    bad.extend(required.then_some(Value::Null));
    // As JSON numbers: floats (1e3, 2^64), one that does not fit a float; 1.5 and -1.
    let numbers = match (numeric, coordinate) {
        (true, _) => &["1e3", "18446744073709551616", "-1e400", "1.5", "-1"][..],
        (_, true) => &["1e3", "18446744073709551616", "-1e400"][..],
        _ => &[],
    };
    for n in numbers {
        bad.push(serde_json::from_str(n).unwrap_or(json!(f64::MAX)));
    }
    bad
}

struct Endpoint {
    path: &'static str,
    access: &'static str,
    fields: Vec<&'static str>,
    good: String,
}

enum Body {
    None,
    Form(Pairs),
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

struct Case {
    what: String,
    method: Method,
    path: &'static str,
    query: Pairs,
    body: Body,
    expect: (u16, u64),
    /// A field the message must name.
    names: Option<String>,
}

type Pairs = Vec<(String, String)>;

/// `good` (`k=v k=v`) without `field`, plus `field=value` when given.
fn pairs(good: &str, field: &str, value: Option<&str>) -> Pairs {
    let mut out: Pairs = good
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k != field)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    out.extend(value.map(|v| (field.to_owned(), v.to_owned())));
    out
}

/// Unencoded `k=v&k=v` (bytes that must reach the server as written).
fn form_text(pairs: &Pairs) -> Vec<u8> {
    let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    kv.join("&").into_bytes()
}

/// A JSON object of string values; a duplicated key stays duplicated.
fn json_text(pairs: &Pairs) -> Vec<u8> {
    let kv: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", json!(k), json!(v)))
        .collect();
    format!("{{{}}}", kv.join(",")).into_bytes()
}

impl Endpoint {
    fn case(&self, what: &str, method: Method, body: Body, expect: (u16, u64)) -> Case {
        let what = format!("{method} {} {what}", self.path);
        let (path, query, names) = (self.path, Pairs::new(), None);
        Case {
            what,
            method,
            path,
            query,
            body,
            expect,
            names,
        }
    }
}

impl Case {
    fn naming(mut self, field: Option<&str>) -> Self {
        self.names = field.map(String::from);
        self
    }
}

impl Endpoint {
    /// Each field missing, empty, malformed, wrongly typed, duplicated, not UTF-8 — as a form,
    /// as JSON, and (read-only calls) as a GET query.
    fn field_cases(&self, out: &mut Vec<Case>) {
        let internal = self.access == "internal";
        let expect = if internal { UNAUTHORIZED } else { INVALID };
        for spec in &self.fields {
            let field = spec.trim_end_matches('?');
            let names = (!internal).then_some(field);
            let required = !spec.ends_with('?');
            let mut values: Vec<Option<String>> = Vec::new();
            if required {
                values.extend([None, Some(String::new()), Some("   ".into())]);
            }
            values.extend(bad_texts(field).into_iter().map(Some));
            for value in values {
                let form = pairs(&self.good, field, value.as_deref());
                let shown: String = format!("{field}={value:?}").chars().take(60).collect();
                let mut sends = vec![
                    (POST, Body::Form(form.clone())),
                    (POST, Body::Raw(JSON, json_text(&form))),
                ];
                if self.access == "read" {
                    sends.push((Method::GET, Body::None));
                }
                for (method, body) in sends {
                    let mut c = self.case(&shown, method, body, expect).naming(names);
                    if matches!(c.body, Body::None) {
                        c.query = form.clone();
                    }
                    out.push(c);
                }
            }
            for bad in bad_json(field, required) {
                let form = pairs(&self.good, field, None);
                let mut map: serde_json::Map<String, Value> =
                    form.into_iter().map(|(k, v)| (k, json!(v))).collect();
                map.insert(field.into(), bad.clone());
                let what = format!("{field}: {bad} (JSON)");
                let body = Body::Json(map.into());
                out.push(self.case(&what, POST, body, expect).naming(names));
            }
            // Refused while the fields are read, before any token check.
            let once = pairs(&self.good, field, Some("1"));
            let mut twice = once.clone();
            twice.push((field.to_owned(), "1".into()));
            let mut raw = form_text(&pairs(&self.good, field, None));
            raw.extend(format!("&{field}=%FF%FE").bytes());
            let in_query = vec![once[once.len() - 1].clone()];
            let mut sends = vec![
                ("twice", POST, vec![], Body::Form(twice.clone())),
                ("in query and body", POST, in_query, Body::Form(once)),
                ("=%FF%FE", POST, vec![], Body::Raw(FORM, raw)),
            ];
            if self.access == "read" {
                sends.push(("twice", Method::GET, twice, Body::None));
            }
            for (what, method, query, body) in sends {
                let c = self.case(&format!("{field} {what}"), method, body, INVALID);
                out.push(Case { query, ..c }.naming(Some(field)));
            }
        }
    }

    /// Content types, sizes, JSON shape, encoding, methods.
    fn wire_cases(&self, out: &mut Vec<Case>) {
        let good = pairs(&self.good, "", None);
        let media = "text/plain|multipart/form-data; boundary=x|application/xml|application/jsonx|";
        for media in media.split('|') {
            let body = Body::Raw(media, form_text(&good));
            out.push(self.case(&format!("as {media:?}"), POST, body, (415, 4_150_000_000)));
        }
        let mut padded = good.clone();
        padded.push(("pad".into(), "x".repeat(64 * 1024)));
        for body in [
            Body::Raw(FORM, form_text(&padded)),
            Body::Raw(JSON, json_text(&padded)),
        ] {
            out.push(self.case("65 KiB", POST, body, (413, 4_130_000_000)));
        }
        let shapes = "[1,2]|\"x\"|42|null|true|{|{\"member_id\":|{'a':1}|{\"a\":1}}|\u{feff}{}";
        let mut raws: Vec<(&'static str, Vec<u8>)> =
            shapes.split('|').map(|r| (JSON, r.into())).collect();
        raws.extend([
            (JSON, b"{\"a\":\"\xff\xfe\"}".to_vec()),
            (FORM, b"%FF%FE=1".to_vec()),
        ]);
        for (media, raw) in raws {
            let what = format!("{media} {:?}", String::from_utf8_lossy(&raw));
            out.push(self.case(&what, POST, Body::Raw(media, raw), INVALID));
        }
        let empty = if self.access == "internal" {
            UNAUTHORIZED
        } else {
            INVALID
        };
        for media in [FORM, JSON] {
            out.push(self.case("empty body", POST, Body::Raw(media, Vec::new()), empty));
        }
        let mut methods = vec![Method::PUT, Method::DELETE, Method::PATCH];
        methods.extend((self.access != "read").then_some(Method::GET));
        for method in methods {
            let body = Body::Form(good.clone());
            out.push(self.case("wrong method", method, body, (405, 4_050_000_000)));
        }
    }
}

async fn send(app: &TestApp, c: &Case) -> Reply {
    let url = format!("{}{}", app.base, c.path);
    let request = app.client.request(c.method.clone(), url).query(&c.query);
    let request = match &c.body {
        Body::None => request,
        Body::Form(form) => request.form(form),
        Body::Json(value) => request.json(value),
        Body::Raw("", raw) => request.body(raw.clone()),
        Body::Raw(media, raw) => request.header("content-type", *media).body(raw.clone()),
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", c.what));
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").cloned();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    let json = content_type.is_some_and(|t| t.as_bytes().starts_with(JSON.as_bytes()));
    let text = (if json { "" } else { "(not JSON) " }).to_owned() + &text;
    Reply { status, body, text }
}

/// Sends every case (8 at a time); returns the failures.
async fn run(app: &TestApp, cases: Vec<Case>) -> Vec<String> {
    let replies: Vec<(Case, Reply)> = futures::stream::iter(cases)
        .map(|c| async { (send(app, &c).await, c) })
        .buffer_unordered(8)
        .map(|(reply, c)| (c, reply))
        .collect()
        .await;
    let mut failures = Vec::new();
    for (c, reply) in &replies {
        let message = reply.body["message"].as_str().unwrap_or_default();
        let named = c.names.as_ref().is_none_or(|f| message.contains(f));
        let envelope = !message.is_empty() && reply.body.get("data").is_some();
        let json = !reply.text.starts_with("(not JSON)");
        if (reply.status, reply.code()) != c.expect || !named || !envelope || !json {
            let got: String = format!("{} {}", reply.status, reply.text)
                .chars()
                .take(160)
                .collect();
            let want = format!("want {:?} naming {:?}", c.expect, c.names);
            failures.push(format!("{}: {want}, got {got}", c.what));
        }
    }
    failures
}

/// The arranged order and apply, and the tables filled in with them.
struct Fixture {
    activity: u64,
    apply: u64,
    parent: String,
    endpoints: Vec<Endpoint>,
    /// Endpoint index, `field=value`, expected code.
    not_found: Vec<(usize, String, (u16, u64))>,
}

async fn arrange(app: &TestApp) -> Fixture {
    let activity = app.save_activity("坏输入", 1, 5).await;
    let owner = app.member(OWNER);
    let applied = owner.apply(activity).await;
    let apply = applied.apply_info.apply_id;
    let sku = applied.sku_slice.clone();
    let order = owner.create_order(&applied).await;
    let (parent, child) = (order.parent_order_no, order.order_no);
    let create = create_form(OWNER, &sku)
        .iter()
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    let vars = [
        ("$create", create),
        ("$caller", format!("company_id={COMPANY} member_id={OWNER}")),
        ("$company", COMPANY.to_string()),
        ("$newcomer", NEWCOMER.to_string()),
        ("$business", BUSINESS.to_string()),
        ("$activity", activity.to_string()),
        ("$apply", apply.to_string()),
        ("$sku", sku),
        ("$parent", parent.clone()),
        ("$child", child),
    ];
    let fill = |text: &str| {
        vars.iter()
            .fold(text.to_owned(), |t, (k, v)| t.replace(k, v))
    };
    let mut blocks: Vec<Vec<&'static str>> = Vec::new();
    for line in ENDPOINTS.lines().filter(|l| !l.is_empty()) {
        if line.starts_with(' ') {
            blocks.last_mut().unwrap().extend(line.split_whitespace());
        } else {
            blocks.push(line.split_whitespace().collect());
        }
    }
    let endpoints: Vec<Endpoint> = blocks
        .into_iter()
        .map(|w| {
            let at = w.iter().position(|w| *w == "=").unwrap();
            let (access, path, fields) = (w[0], w[1], w[2..at].to_vec());
            let good = fill(&w[at + 1..].join(" "));
            Endpoint {
                access,
                path,
                fields,
                good,
            }
        })
        .collect();
    let mut not_found = Vec::new();
    for line in NOT_FOUND.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split(" : ").collect();
        let code: u64 = parts[2].parse().unwrap();
        for path in parts[0].split_whitespace() {
            let e = endpoints.iter().position(|e| e.path == path).unwrap();
            for swap in fill(parts[1]).split_whitespace() {
                not_found.push((e, swap.to_owned(), (404, code)));
            }
        }
    }
    Fixture {
        activity,
        apply,
        parent,
        endpoints,
        not_found,
    }
}

#[actix_web::test]
async fn every_endpoint_refuses_every_kind_of_bad_input_and_changes_nothing() {
    let app = spawn_app().await;
    let f = arrange(&app).await;
    let owner = app.member(OWNER);
    let snapshot = || async {
        let who = [
            ("company_id", COMPANY.to_string()),
            ("member_id", OWNER.to_string()),
            ("parent_order_no", f.parent.clone()),
        ];
        let detail = app.post_form("/shop/order/detail", &who).await.ok().clone();
        let state = owner.try_state(&f.parent).await.ok().clone();
        let activity = app
            .get(
                "/activityPlatform/wxActivity/detail",
                &[("activity_id", f.activity.to_string())],
            )
            .await
            .ok()
            .clone();
        let apply = owner.apply_record(f.apply).await;
        (detail, state, activity, apply)
    };
    let before = snapshot().await;

    let mut cases = Vec::new();
    for e in &f.endpoints {
        e.field_cases(&mut cases);
        e.wire_cases(&mut cases);
        if e.access == "internal" {
            for token in ["", " internal_token=guess"] {
                let form = Body::Form(pairs(&format!("{}{token}", e.good), "", None));
                cases.push(e.case(&format!("good{token}"), POST, form, UNAUTHORIZED));
            }
        }
    }
    let table = cases.len();
    for (e, swap, expect) in &f.not_found {
        let e = &f.endpoints[*e];
        let (field, value) = swap.split_once('=').unwrap();
        let form = pairs(&e.good, field, Some(value));
        let json = Body::Raw(JSON, json_text(&form));
        cases.push(e.case(swap, POST, json, *expect));
        cases.push(e.case(swap, POST, Body::Form(form), *expect));
    }
    let save = &f.endpoints[5];
    let late = Body::Form(pairs(
        &format!("{} start_time=9 end_time=5", save.good),
        "",
        None,
    ));
    cases.push(
        save.case("end before start", POST, late, INVALID)
            .naming(Some("end_time")),
    );

    let total = cases.len();
    let failures = run(&app, cases).await;
    eprintln!(
        "{total} bad requests on {} endpoints, {} of them field/wire cases",
        f.endpoints.len(),
        table
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing changed: the order, its state, the seats, the apply; no second order or activity.
    let after = snapshot().await;
    assert_eq!(before, after);
    assert_eq!(
        (&after.1["transaction_status"], &after.2["seats_left"]),
        (&json!("0"), &json!(4))
    );
    let sku = format!("{}:1", f.apply);
    let again: Order = owner.try_create_order(&sku).await.ok_as();
    assert_eq!(again.parent_order_no, f.parent);
    assert_eq!(app.save_activity("之后", 1, 1).await, f.activity + 1);
}

/// A key twice in a JSON body is the JSON twin of `member_id=1&member_id=2` (refused), and
/// two readers of one body (a gateway, this service) must not see different owners.
#[actix_web::test]
async fn a_json_key_given_twice_is_refused() {
    let app = spawn_app().await;
    let f = arrange(&app).await;
    let mut cases = Vec::new();
    for e in &f.endpoints {
        for field in e.fields.iter().map(|f| f.trim_end_matches('?')) {
            let mut twice = pairs(&e.good, field, Some("1"));
            twice.push((field.to_owned(), "1".into()));
            let body = Body::Raw(JSON, json_text(&twice));
            let what = format!("{field} twice (JSON)");
            cases.push(e.case(&what, POST, body, INVALID).naming(Some(field)));
        }
    }
    let failures = run(&app, cases).await;
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
