//! Notifies, faults, restarts, the checkout page and the `paysim` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ordercenter::paysim::PaySimConfig;
use ordercenter::provider::time::now_unix;
use ordercenter::provider::{Notify, ProviderConfig, ProviderError, TradeStatus, UmsClient};

use crate::helpers::KillOnDrop;

use super::{
    eventually, form_fields, new_order, spawn_sim, spawn_sim_in, test_config, verify_pay_sign,
    TestSim,
};

#[actix_web::test]
async fn the_notify_is_signed_delivered_and_retried_until_success() {
    // Arrange: the merchant fails the first two deliveries.
    let app = spawn_sim(test_config()).await;
    app.receiver.reject_first.store(2, Ordering::SeqCst);
    let (id, _) = app.place(1250).await;
    // Act
    assert_eq!(app.pay(&id).await.0, 200);
    // Assert: three attempts, then silence.
    let three = eventually(Duration::from_secs(5), || app.notifies().len() >= 3).await;
    assert!(
        three,
        "expected 3 notify attempts, got {}",
        app.notifies().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies = app.notifies();
    assert_eq!(bodies.len(), 3, "no more notifies after SUCCESS");
    for body in &bodies {
        let notify = app.client.verify_notify(body).expect("notify verifies");
        notify
            .check(&id, 1250)
            .expect("notify is for this order and amount");
        assert_eq!(notify.status, TradeStatus::TradeSuccess);
        assert!(notify.pay_time.is_some() && notify.target_order_id.is_some());
        let fields = form_fields(body);
        assert_eq!(fields.get("signType"), None, "MD5, unnamed, by default");
    }
}

#[actix_web::test]
async fn a_forged_or_foreign_notify_is_rejected() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(1250).await;
    assert_eq!(app.pay(&id).await.0, 200);
    assert!(eventually(Duration::from_secs(5), || !app.notifies().is_empty()).await);
    let body = app.notifies().remove(0);
    let mut fields = form_fields(&body);
    fields.insert("totalAmount".into(), "1".into());
    let forged = serde_urlencoded::to_string(&fields).expect("form");
    let result = app.client.verify_notify(forged.as_bytes());
    assert!(
        matches!(result, Err(ProviderError::BadSignature)),
        "{result:?}"
    );
    let other_key = Notify::parse_form(&body, "another-merchant-key");
    assert!(matches!(other_key, Err(ProviderError::BadSignature)));
    let genuine = app.client.verify_notify(&body).expect("genuine notify");
    assert!(
        matches!(genuine.check(&id, 1), Err(ProviderError::Mismatch(_))),
        "wrong amount"
    );
    let other_order = genuine.check(&super::order_id(), 1250);
    assert!(
        matches!(other_order, Err(ProviderError::Mismatch(_))),
        "wrong order"
    );
}

#[actix_web::test]
async fn dropped_notifies_never_arrive_but_the_query_tells() {
    let app = spawn_sim(test_config()).await;
    assert_eq!(
        app.set_faults(serde_json::json!({"drop_notify_rate": 1.0}))
            .await,
        200
    );
    let (id, _) = app.place(100).await;
    assert_eq!(
        app.pay(&id).await.0,
        200,
        "paying is not affected by notify faults"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.notifies().is_empty(), "every notify was dropped");
    assert_eq!(app.status(&id).await, TradeStatus::TradeSuccess);
}

#[actix_web::test]
async fn injected_errors_are_seen_by_the_client_and_change_nothing() {
    let app = spawn_sim(test_config()).await;
    assert_eq!(
        app.set_faults(serde_json::json!({"error_rate": 1.0})).await,
        200
    );
    let order = new_order(100, now_unix() + 480);
    for _ in 0..6 {
        let error = app
            .client
            .unified_order(&order)
            .await
            .expect_err("injected failure");
        let gateway_or_code = matches!(error, ProviderError::Http { status: 503 })
            || error.code() == Some(ordercenter::provider::codes::INTERNAL_ERROR);
        assert!(
            gateway_or_code && error.is_retryable(),
            "looks like an outage: {error:?}"
        );
    }
    assert_eq!(
        app.set_faults(serde_json::json!({"error_rate": 0.0})).await,
        200
    );
    let nothing = app.client.query(&order.mer_order_id).await;
    assert!(
        matches!(nothing, Err(e) if e.is_no_order()),
        "no order was created"
    );
}

#[actix_web::test]
async fn a_lost_answer_hides_a_call_that_took_effect() {
    let app = spawn_sim(test_config()).await;
    assert_eq!(
        app.set_faults(serde_json::json!({"lost_response_rate": 1.0}))
            .await,
        200
    );
    let order = new_order(100, now_unix() + 480);
    let lost = app.client.unified_order(&order).await;
    assert!(
        matches!(lost, Err(ProviderError::Http { status: 504 })),
        "{lost:?}"
    );
    assert_eq!(
        app.set_faults(serde_json::json!({"lost_response_rate": 0}))
            .await,
        200
    );
    assert_eq!(
        app.status(&order.mer_order_id).await,
        TradeStatus::WaitBuyerPay
    );
}

#[actix_web::test]
async fn latency_beyond_the_client_timeout_is_a_timeout() {
    let app = spawn_sim(test_config()).await;
    assert_eq!(
        app.set_faults(serde_json::json!({"latency_ms": 400})).await,
        200
    );
    let impatient = UmsClient::new(ProviderConfig {
        timeout: Duration::from_millis(100),
        ..app.client.config().clone()
    })
    .expect("client builds");
    let result = impatient.query(&super::order_id()).await;
    assert!(
        matches!(result, Err(ProviderError::Timeout(_))),
        "{result:?}"
    );
}

#[actix_web::test]
async fn the_faults_set_are_read_back_and_bad_ones_refused() {
    let app = spawn_sim(test_config()).await;
    assert_eq!(
        app.set_faults(serde_json::json!({"latency_ms": 400})).await,
        200
    );

    let faults: serde_json::Value = app
        .http
        .get(format!("{}/paysim/faults", app.base_url))
        .send()
        .await
        .expect("faults request")
        .json()
        .await
        .expect("faults JSON");
    assert_eq!(faults["latency_ms"], 400);
    assert_eq!(
        app.set_faults(serde_json::json!({"error_rate": 2})).await,
        400
    );
    assert_eq!(app.set_faults(serde_json::json!({"typo": 1})).await, 400);
}

/// The checkout page of `prepay_id`.
async fn checkout(app: &TestSim, prepay_id: &str) -> reqwest::Response {
    app.http
        .get(format!(
            "{}/paysim/checkout?prepay_id={prepay_id}",
            app.base_url
        ))
        .send()
        .await
        .expect("checkout request")
}

#[actix_web::test]
async fn the_checkout_page_shows_the_amount_and_the_order_with_a_pay_button() {
    let app = spawn_sim(test_config()).await;
    let (id, answer) = app.place(1250).await;

    let page = checkout(&app, answer.mini_pay_request.prepay_id()).await;

    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("checkout body");
    assert!(
        html.contains("¥12.5") && html.contains(&id),
        "amount and order shown"
    );
    assert!(html.contains("action=\"/paysim/pay\""), "a Pay button");
}

#[actix_web::test]
async fn paying_by_prepay_id_charges_the_order() {
    let app = spawn_sim(test_config()).await;
    let (id, answer) = app.place(1250).await;

    let paid = app
        .http
        .post(format!("{}/paysim/pay", app.base_url))
        .form(&[("prepay_id", answer.mini_pay_request.prepay_id())])
        .send()
        .await
        .expect("pay by prepay_id");

    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.status(&id).await, TradeStatus::TradeSuccess);
}

#[actix_web::test]
async fn an_unknown_prepay_id_has_no_checkout_page() {
    let app = spawn_sim(test_config()).await;

    let unknown = checkout(&app, "wx00000000nothing").await;

    assert_eq!(unknown.status().as_u16(), 404);
}

#[actix_web::test]
async fn state_and_generated_key_survive_a_restart() {
    // No configured key: the simulator generates one and keeps it in its store.
    let config = || PaySimConfig {
        private_key_pem: None,
        ..test_config()
    };
    let first = spawn_sim(config()).await;
    let (id, answer) = first.place(100).await;
    assert_eq!(first.pay(&id).await.0, 200);
    let key_before = first.sim.public_key_pem().to_owned();
    let dir = first.stop().await;
    let second = spawn_sim_in(dir, config()).await;
    assert_eq!(second.sim.public_key_pem(), key_before, "the key is kept");
    let pay = &answer.mini_pay_request;
    assert!(verify_pay_sign(
        second.sim.public_key_pem(),
        &pay.signed_text(),
        &pay.pay_sign
    ));
    assert_eq!(
        second.status(&id).await,
        TradeStatus::TradeSuccess,
        "the payment is kept"
    );
}

#[actix_web::test]
async fn the_binary_serves_the_simulator_on_a_free_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/paysim_test_key.pem"
    );
    let mut child = KillOnDrop::new(
        Command::new(env!("CARGO_BIN_EXE_paysim"))
            .args(["--listen", "127.0.0.1:0", "--key-file", key])
            .args(["--notify-sign-type", "sha256", "--data-dir"])
            .arg(dir.path().join("db"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("paysim starts"),
    );
    let stdout = child.stdout.take().expect("stdout");
    let base_url = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.trim()
                    .strip_prefix("paysim listening on ")
                    .map(str::to_owned)
            })
    })
    .await
    .expect("reader thread")
    .expect("prints the address it listens on");
    let client = UmsClient::new(ProviderConfig::with_base_url(&base_url)).expect("client");
    let order = new_order(100, now_unix() + 480);
    let placed = client.unified_order(&order).await;
    let pem = match reqwest::get(format!("{base_url}/paysim/public-key")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    drop(child);
    let placed = placed.expect("unified order against the binary");
    let pay = &placed.mini_pay_request;
    assert!(verify_pay_sign(&pem, &pay.signed_text(), &pay.pay_sign));
}
