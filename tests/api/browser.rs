//! The demo page (`GET /`) in a real browser, a phone-sized headless Chromium: a person
//! applies, comes back and is taken to the unpaid order (4001009999), pays it at the
//! simulator's checkout and sees 报名成功; an unpaid order ends 订单已关闭 at its deadline
//! and the member applies again. Any console error fails the test. Screenshots of each
//! final screen are kept in `target/browser-artifacts/`.

mod driver;

use std::time::Duration;

use driver::{Browser, ConsoleEntry};

use crate::helpers::{spawn_app, spawn_app_with};

const COUNTDOWN: &str = "[data-testid=\"countdown\"]";
const RESULT: &str = "[data-testid=\"result\"]";

/// Fails on any console error that `expected` does not allow.
fn assert_no_console_errors(entries: &[ConsoleEntry], expected: impl Fn(&ConsoleEntry) -> bool) {
    let errors: Vec<&ConsoleEntry> = entries
        .iter()
        .filter(|e| e.is_error() && !expected(e))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// `支付剩余时间 07:59` → 479.
fn countdown_secs(text: &str) -> Option<u64> {
    let clock = text.split_whitespace().find(|w| w.contains(':'))?;
    let (mm, ss) = clock.split_once(':')?;
    Some(mm.trim().parse::<u64>().ok()? * 60 + ss.trim().parse::<u64>().ok()?)
}

/// Types the applicant into the form and presses 立即报名.
async fn apply(browser: &Browser, name: &str, phone: &str) {
    for (field, text) in [("name", name), ("phone", phone)] {
        let input = browser.testid(field).await;
        input.clear().await.expect("field cleared");
        input.send_keys(text).await.expect("field typed");
    }
    browser.click("[data-testid=\"apply-button\"]").await;
}

async fn order_no(browser: &Browser) -> String {
    let text = browser
        .wait_text(
            "#order-no",
            Duration::from_secs(10),
            "an order number",
            |t| t.len() == 19,
        )
        .await;
    text.trim().to_owned()
}

#[actix_web::test]
async fn on_the_demo_page_a_member_applies_pays_at_the_checkout_and_sees_报名成功() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let page = format!("{}/?member_id=51001", app.base);
    let mut console = Vec::new();

    // The demo activity, as the page shows it.
    browser.open(&page).await;
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
    apply(&browser, "张文林", "15976123893").await;
    let shown = browser
        .wait_text(COUNTDOWN, Duration::from_secs(10), "about 08:00", |t| {
            countdown_secs(t).is_some_and(|s| (470..=480).contains(&s))
        })
        .await;
    let parent_order_no = order_no(&browser).await;
    assert_eq!(
        app.member(51001)
            .try_state(parent_order_no.as_str())
            .await
            .ok()["transaction_status"],
        "0"
    );
    let first = countdown_secs(&shown).expect("countdown");
    browser
        .wait_text(
            COUNTDOWN,
            Duration::from_secs(5),
            "the countdown moving",
            |t| countdown_secs(t).is_some_and(|s| s < first),
        )
        .await;
    browser.screenshot("2-order").await;
    console.extend(browser.console().await);

    // The member comes back and applies again: 4001009999 takes them to the unpaid order.
    browser.open(&page).await;
    apply(&browser, "张文林", "15976123893").await;
    browser
        .wait_text("#order-notice", Duration::from_secs(10), "why", |t| {
            t.contains("待支付")
        })
        .await;
    assert_eq!(order_no(&browser).await, parent_order_no, "the same order");
    browser.screenshot("2b-resumed").await;
    let resumed = browser.console().await;
    assert!(
        resumed
            .iter()
            .any(|e| e.source == "network" && e.message.contains("409")),
        "the second apply was answered 409: {resumed:#?}"
    );
    // That answer is the only error the browser may log.
    assert_no_console_errors(&resumed, |e| {
        e.source == "network" && e.message.contains("wxActivity/apply") && e.message.contains("409")
    });

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
        .wait_text(RESULT, Duration::from_secs(15), "报名成功", |t| {
            t == "报名成功"
        })
        .await;
    browser
        .wait_text(
            "#result-rows",
            Duration::from_secs(5),
            "the registration",
            |t| t.contains("已报名") && t.contains(&parent_order_no),
        )
        .await;
    let sheet = browser.element("#sheet").await;
    assert!(
        sheet.attr("hidden").await.expect("attr").is_some(),
        "the checkout sheet closes once paid"
    );
    browser.screenshot("paid").await;
    assert_eq!(
        app.member(51001)
            .try_state(parent_order_no.as_str())
            .await
            .ok()["transaction_status"],
        "1"
    );
    console.extend(browser.console().await);

    // The API document renders from the binary's own files (name resolution is off).
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
            "the endpoints",
            |t| t.contains("/shop/order/create") && t.contains("/shop/order/state"),
        )
        .await;
    browser.screenshot("docs").await;
    console.extend(browser.console().await);

    browser.quit().await;
    assert_no_console_errors(&console, |_| false);
}

#[actix_web::test]
async fn on_the_demo_page_an_unpaid_order_ends_订单已关闭_and_the_member_can_apply_again() {
    let app = spawn_app_with(|c| c.order_ttl = 4).await;
    let other = app.save_activity("周末徒步", 1250, 30).await;
    let browser = Browser::start().await;

    // Several activities, one of them unknown: a list, and the refusal's message.
    browser
        .open(&format!(
            "{}/?member_id=51002&activity_id=1,{other},999",
            app.base
        ))
        .await;
    browser
        .wait_text(
            "[data-testid=\"error\"]",
            Duration::from_secs(10),
            "the message",
            |t| t == "活动或报名不存在",
        )
        .await;
    let listed = browser
        .wait_text("#activities", Duration::from_secs(5), "both", |t| {
            t.contains("欢乐活动") && t.contains("周末徒步") && t.contains("12.50")
        })
        .await;
    browser.screenshot("0-list").await;
    let mut console = browser.console().await;
    assert!(
        console
            .iter()
            .any(|e| e.source == "network" && e.message.contains("404")),
        "the unknown activity was answered 404: {console:#?}"
    );
    assert!(
        listed.find("欢乐活动") < listed.find("周末徒步"),
        "in the order asked"
    );
    apply(&browser, "李四", "13800138000").await;
    browser
        .wait_text(COUNTDOWN, Duration::from_secs(10), "at most 00:04", |t| {
            countdown_secs(t).is_some_and(|s| s <= 4)
        })
        .await;
    let parent_order_no = order_no(&browser).await;

    // Unpaid at the deadline: closed, the page stops polling.
    browser
        .wait_text(RESULT, Duration::from_secs(20), "订单已关闭", |t| {
            t == "订单已关闭"
        })
        .await;
    browser.screenshot("closed").await;
    assert_eq!(
        app.member(51002)
            .try_state(parent_order_no.as_str())
            .await
            .ok()["transaction_status"],
        "2"
    );

    // 重新报名: back to the activity, and a new order.
    browser.click("[data-testid=\"apply-again\"]").await;
    browser
        .wait_text(
            "#activities",
            Duration::from_secs(10),
            "the activity",
            |t| t.contains("欢乐活动"),
        )
        .await;
    apply(&browser, "李四", "13800138000").await;
    let again = browser
        .wait_text("#order-no", Duration::from_secs(10), "a new order", |t| {
            t.len() == 19 && t != parent_order_no
        })
        .await;
    assert_eq!(
        app.member(51002).try_state(again.trim()).await.ok()["transaction_status"],
        "0"
    );
    console.extend(browser.console().await);

    browser.quit().await;
    // The only errors: the unknown activity's answers (the list is read again on 重新报名).
    assert_no_console_errors(&console, |e| {
        e.source == "network"
            && e.message.contains("wxActivity/detail")
            && e.message.contains("404")
    });
}
