//! `/metrics`: what happened shows in the counters, and every metric the shipped Grafana
//! dashboard queries exists.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::{eventually, spawn_app_with, Status, TestApp};

/// The order TTL of these tests, in seconds.
const TTL: u64 = 2;

/// The dashboard shipped in the repository.
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/grafana/ordercenter.json");

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of the sample written exactly `series` (name and labels as exposed), if any.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The names of every sample exposed (without labels).
fn exposed_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every `ordercenter_…` name in the dashboard's queries.
fn dashboard_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(DASHBOARD).expect("the dashboard is in the repository");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            for (at, _) in expr.match_indices("ordercenter_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// One order paid by the buyer, one cancelled, one expired, and a request to nowhere.
async fn some_traffic(app: &TestApp) {
    let paid_by = app.member(7001);
    let paid = paid_by.order(1).await;
    paid_by.pay(&paid).await;
    assert_eq!(app.buyer_pays(&paid.parent_order_no).await, 200);
    paid_by
        .wait_status(&paid, Status::Paid, Duration::from_secs(10))
        .await;

    let cancelled_by = app.member(7002);
    let cancelled = cancelled_by.order(1).await;
    cancelled_by.cancel(&cancelled).await;

    let expired_by = app.member(7003);
    let expired = expired_by.order(1).await;
    expired_by
        .wait_status(&expired, Status::Closed, Duration::from_secs(10))
        .await;

    app.get("/no/such/route", &[])
        .await
        .expect_error(404, 4_040_000_000);
}

#[actix_web::test]
async fn every_metric_the_dashboard_queries_is_exposed() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    some_traffic(&app).await;

    let exposed = exposed_names(&scrape(&app).await);
    let missing: Vec<_> = dashboard_names()
        .into_iter()
        .filter(|name| !exposed.contains(name))
        .collect();

    assert!(
        dashboard_names().len() >= 20,
        "the dashboard queries few metrics: {:?}",
        dashboard_names()
    );
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not expose; exposed: {exposed:?}"
    );
}

#[actix_web::test]
async fn the_counters_show_what_happened_to_orders() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    some_traffic(&app).await;

    let text = eventually(
        Duration::from_secs(5),
        "the expiry to be counted",
        || async {
            let text = scrape(&app).await;
            (value(&text, "ordercenter_expiry_lateness_seconds_count") == Some(1.0)).then_some(text)
        },
    )
    .await;

    assert_eq!(
        value(&text, "ordercenter_orders_created_total"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"ordercenter_orders_closed_total{reason="cancelled"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"ordercenter_orders_closed_total{reason="expired"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let paid: f64 = ["notify", "query"]
        .iter()
        .filter_map(|path| {
            value(
                &text,
                &format!(r#"ordercenter_orders_paid_total{{path="{path}"}}"#),
            )
        })
        .sum();
    assert_eq!(paid, 1.0, "one payment, by notify or query: {text}");
    assert_eq!(
        value(
            &text,
            r#"ordercenter_http_requests_total{route="/shop/order/create",method="POST",status="2xx"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"ordercenter_http_requests_total{route="unmatched",method="GET",status="4xx"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"ordercenter_provider_calls_total{operation="unified_order",outcome="ok"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // The cancel of an order that never paid makes no provider call; the paid order's
    // payment was followed, so its latency was observed once.
    assert_eq!(
        value(&text, "ordercenter_payment_latency_seconds_count"),
        None
    );
    let latency_count: f64 = ["notify", "query"]
        .iter()
        .filter_map(|path| {
            value(
                &text,
                &format!(r#"ordercenter_payment_latency_seconds_count{{path="{path}"}}"#),
            )
        })
        .sum();
    assert_eq!(latency_count, 1.0, "{text}");
    let flushes = value(&text, "ordercenter_store_flushes_total").expect("flushes");
    let flush_count =
        value(&text, "ordercenter_store_flush_duration_seconds_count").expect("flush histogram");
    assert!(flush_count >= 1.0 && flush_count <= flushes + 1.0, "{text}");
    assert_eq!(
        value(&text, "ordercenter_waiting_provider_closes"),
        Some(0.0)
    );
    assert_eq!(value(&text, "ordercenter_ready"), Some(1.0));
}

#[actix_web::test]
async fn an_expiry_the_provider_cannot_close_is_counted_as_waiting_until_it_closes() {
    let app = spawn_app_with(|c| c.order_ttl = TTL).await;
    let member = app.member(7101);
    let order = member.order(1).await;
    member.pay(&order).await;
    app.set_faults(serde_json::json!({"error_rate": 1.0})).await;

    eventually(
        Duration::from_secs(10),
        "the close to wait for the provider",
        || async {
            (value(&scrape(&app).await, "ordercenter_waiting_provider_closes") == Some(1.0))
                .then_some(())
        },
    )
    .await;
    let text = scrape(&app).await;
    assert!(
        value(
            &text,
            r#"ordercenter_provider_calls_total{operation="close",outcome="error"}"#
        )
        .is_some_and(|failed| failed >= 1.0)
            || value(
                &text,
                r#"ordercenter_provider_calls_total{operation="close",outcome="refused"}"#
            )
            .is_some_and(|failed| failed >= 1.0),
        "{text}"
    );
    assert_eq!(member.state(&order).await.status, Status::Unpaid);

    app.set_faults(serde_json::json!({"error_rate": 0.0})).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(20))
        .await;
    eventually(Duration::from_secs(5), "the wait to end", || async {
        (value(&scrape(&app).await, "ordercenter_waiting_provider_closes") == Some(0.0))
            .then_some(())
    })
    .await;
}
