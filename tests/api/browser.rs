//! The demo page (`GET /`) in a real browser, a phone-sized headless Chromium: a person
//! applies, pays at the simulator's checkout and sees 报名成功; an unpaid order ends
//! 订单已关闭 at its deadline, after a second apply took the member back to it (4001009999).
//! Any console error fails the test. Screenshots of each final screen are kept in
//! `target/browser-artifacts/`.

mod driver;

use std::time::Duration;

use driver::{Browser, ConsoleEntry};

use crate::helpers::{spawn_app, spawn_app_with};

/// Fails on any console error except those `expected` allows (by its message).
fn assert_no_console_errors(entries: &[ConsoleEntry], expected: impl Fn(&ConsoleEntry) -> bool) {
    let errors: Vec<&ConsoleEntry> = entries
        .iter()
        .filter(|e| e.is_error() && !expected(e))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// `07:59` → 479.
fn countdown_secs(text: &str) -> Option<u64> {
    let clock = text.split_whitespace().find(|w| w.contains(':'))?;
    let (mm, ss) = clock.split_once(':')?;
    Some(mm.trim().parse::<u64>().ok()? * 60 + ss.trim().parse::<u64>().ok()?)
}

#[actix_web::test]
async fn on_the_demo_page_a_member_applies_pays_at_the_checkout_and_sees_报名成功() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let mut console = Vec::new();

    // The demo activity, as the page shows it.
    browser
        .open(&format!("{}/?member_id=51001", app.base))
        .await;
    browser
        .wait_text(
            "#activities",
            Duration::from_secs(10),
            "the activity",
            |t| t.contains("欢乐活动") && t.contains("0.01") && t.contains("剩余名额"),
        )
        .await;
    browser.screenshot("1-activity").await;

    // Apply: the page applies and creates the order, then counts down from 8 minutes.
    browser
        .testid("name")
        .await
        .send_keys("张文林")
        .await
        .expect("name typed");
    browser
        .testid("phone")
        .await
        .send_keys("15976123893")
        .await
        .expect("phone typed");
    browser.click("[data-testid=\"apply-button\"]").await;
    let shown = browser
        .wait_text(
            "[data-testid=\"countdown\"]",
            Duration::from_secs(10),
            "a countdown near 08:00",
            |t| countdown_secs(t).is_some_and(|s| (470..=480).contains(&s)),
        )
        .await;
    let parent_order_no = browser
        .element("#order-no")
        .await
        .text()
        .await
        .expect("order number");
    assert_eq!(
        parent_order_no.len(),
        19,
        "a parent order number: {parent_order_no}"
    );
    let state = app.state(51001, &parent_order_no).await;
    assert_eq!(state.ok()["transaction_status"], "0");
    // It is live: a second later it shows less.
    let first = countdown_secs(&shown).expect("countdown");
    browser
        .wait_text(
            "[data-testid=\"countdown\"]",
            Duration::from_secs(5),
            "the countdown moving",
            |t| countdown_secs(t).is_some_and(|s| s < first),
        )
        .await;
    browser.screenshot("2-order").await;

    // Pay: where the mini-program calls wx.requestPayment, the checkout opens in a sheet.
    browser.click("[data-testid=\"pay-button\"]").await;
    let frame = browser
        .element("#sheet:not([hidden]) iframe#checkout")
        .await;
    frame.enter_frame().await.expect("into the checkout");
    browser
        .wait_text("body", Duration::from_secs(10), "the amount", |t| {
            t.contains("¥0.01")
        })
        .await;
    browser.client.enter_parent_frame().await.expect("back out");
    browser.screenshot("3-checkout").await;
    frame.enter_frame().await.expect("into the checkout");
    browser.click("[data-testid=\"checkout-pay\"]").await;
    browser.client.enter_parent_frame().await.expect("back out");

    // The page polls the state once a second and stops on "1".
    browser
        .wait_text(
            "[data-testid=\"result\"]",
            Duration::from_secs(15),
            "报名成功",
            |t| t == "报名成功",
        )
        .await;
    browser
        .wait_text(
            "#result-rows",
            Duration::from_secs(5),
            "the registration",
            |t| t.contains("已报名") && t.contains(&parent_order_no),
        )
        .await;
    let sheet_hidden = browser
        .element("#sheet")
        .await
        .attr("hidden")
        .await
        .expect("sheet attr");
    assert!(
        sheet_hidden.is_some(),
        "the checkout sheet closes once paid"
    );
    let path = browser.screenshot("paid").await;
    let state = app.state(51001, &parent_order_no).await;
    assert_eq!(state.ok()["transaction_status"], "1");
    console.extend(browser.console().await);

    // The API document renders offline from the binary's own files.
    browser.open(&format!("{}/docs/", app.base)).await;
    browser
        .wait_text(
            ".swagger-ui .info",
            Duration::from_secs(15),
            "the title",
            |t| t.contains("ordercenter"),
        )
        .await;
    browser
        .wait_text(
            ".swagger-ui",
            Duration::from_secs(10),
            "the order endpoints",
            |t| t.contains("/shop/order/create") && t.contains("/shop/order/state"),
        )
        .await;
    browser.screenshot("docs").await;
    console.extend(browser.console().await);

    browser.quit().await;
    assert_no_console_errors(&console, |_| false);
    eprintln!("screenshot: {}", path.display());
}

#[actix_web::test]
async fn on_the_demo_page_an_unpaid_order_ends_订单已关闭_and_the_member_can_apply_again() {
    let app = spawn_app_with(|c| c.order_ttl = 6).await;
    let browser = Browser::start().await;
    let mut console = Vec::new();
    let page = format!("{}/?member_id=51002", app.base);

    browser.open(&page).await;
    browser
        .testid("name")
        .await
        .send_keys("李四")
        .await
        .expect("name typed");
    browser
        .testid("phone")
        .await
        .send_keys("13800138000")
        .await
        .expect("phone typed");
    browser.click("[data-testid=\"apply-button\"]").await;
    browser
        .wait_text(
            "[data-testid=\"countdown\"]",
            Duration::from_secs(10),
            "a countdown of at most 6 s",
            |t| countdown_secs(t).is_some_and(|s| s <= 6),
        )
        .await;
    let parent_order_no = browser
        .element("#order-no")
        .await
        .text()
        .await
        .expect("order number");
    console.extend(browser.console().await);

    // The member comes back and applies again: 4001009999 takes them to the unpaid order.
    browser.open(&page).await;
    browser
        .testid("name")
        .await
        .send_keys("李四")
        .await
        .expect("name typed");
    browser
        .testid("phone")
        .await
        .send_keys("13800138000")
        .await
        .expect("phone typed");
    browser.click("[data-testid=\"apply-button\"]").await;
    browser
        .wait_text(
            "#order-no",
            Duration::from_secs(10),
            "the same order",
            |t| t == parent_order_no,
        )
        .await;
    browser
        .wait_text("#order-notice", Duration::from_secs(5), "why", |t| {
            t.contains("待支付")
        })
        .await;
    // That 409 is the only error the browser may log: the apply's answer itself.
    let resumed = browser.console().await;
    assert!(
        resumed
            .iter()
            .any(|e| e.source == "network" && e.message.contains("409")),
        "the apply was answered 409: {resumed:#?}"
    );
    assert_no_console_errors(&resumed, |e| {
        e.source == "network" && e.message.contains("wxActivity/apply") && e.message.contains("409")
    });

    // Unpaid at the deadline: closed, polling stops, the seat is free again.
    browser
        .wait_text(
            "[data-testid=\"result\"]",
            Duration::from_secs(20),
            "订单已关闭",
            |t| t == "订单已关闭",
        )
        .await;
    let path = browser.screenshot("closed").await;
    let state = app.state(51002, &parent_order_no).await;
    assert_eq!(state.ok()["transaction_status"], "2");

    browser.click("[data-testid=\"apply-again\"]").await;
    browser
        .wait_text(
            "#activities",
            Duration::from_secs(10),
            "the activity again",
            |t| t.contains("欢乐活动"),
        )
        .await;
    assert!(browser
        .testid("apply-button")
        .await
        .is_enabled()
        .await
        .expect("button state"));
    console.extend(browser.console().await);

    browser.quit().await;
    assert_no_console_errors(&console, |_| false);
    eprintln!("screenshot: {}", path.display());
}
