//! Stores that cannot be opened, lost data dirs, per-member limits.

use std::process::{Command, Stdio};

use crate::crash::{client, post, Server};
use crate::helpers::{spawn_app, KillOnDrop};

/// Starts the binary on `dir` and expects it to refuse, naming the dir.
pub fn expect_refusal(dir: &std::path::Path) {
    let mut child = KillOnDrop::new(
        Command::new(env!("CARGO_BIN_EXE_ordercenter"))
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs"),
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while child.try_wait().expect("child status").is_none() {
        assert!(
            std::time::Instant::now() < until,
            "the service started on a damaged store"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "started on a damaged store: {stderr}"
    );
    assert!(
        stderr.contains(&dir.display().to_string()),
        "the error does not name the data dir: {stderr}"
    );
    assert!(output.stdout.is_empty(), "it listened anyway");
}

fn create_store(dir: &std::path::Path) {
    let server = Server::start(dir, 480);
    server.kill9();
}

#[test]
fn a_store_that_cannot_be_opened_stops_the_service_and_is_not_wiped() {
    // A damaged config file.
    let dir = tempfile::tempdir().unwrap();
    create_store(dir.path());
    std::fs::write(dir.path().join("conf"), b"garbage garbage garbage\n").unwrap();
    expect_refusal(dir.path());
    assert_eq!(
        std::fs::read(dir.path().join("conf")).unwrap(),
        b"garbage garbage garbage\n",
        "conf rewritten"
    );

    // A damaged log: sled would recover it as empty; the service refuses to start over.
    let dir = tempfile::tempdir().unwrap();
    create_store(dir.path());
    let db = dir.path().join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    for byte in bytes.iter_mut() {
        *byte ^= 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    expect_refusal(dir.path());
    assert!(db.exists());
}

#[test]
fn order_numbers_are_never_reused_even_after_the_data_dir_is_lost() {
    let mut seen = std::collections::HashSet::new();
    let mut last = String::new();
    for round in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), 480);
        let base = server.base.clone();
        let applied = post(
            &client(),
            format!("{base}/activityPlatform/wxActivity/apply"),
            &[
                ("company_id", "421".into()),
                ("member_id", "1".into()),
                ("business_id", "10000001".into()),
                ("activity_id", "1".into()),
                ("name", "甲".into()),
                ("phone", "13800000000".into()),
            ],
        );
        let sku = applied["data"]["sku_slice"].as_str().unwrap().to_owned();
        let created = post(
            &client(),
            format!("{base}/shop/order/create"),
            &crate::helpers::TestApp::create_form(1, &sku),
        );
        let parent = created["data"]["parent_order_no"]
            .as_str()
            .unwrap()
            .to_owned();
        let order_no = created["data"]["list"]["order"]["order_no"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            seen.insert(parent.clone()) && seen.insert(order_no),
            "round {round}: {parent} reused"
        );
        assert!(parent > last, "round {round}: {parent} not after {last}");
        last = parent;
        // Crash, lose everything, start again at once.
        server.kill9();
        drop(dir);
    }
}

#[actix_web::test]
async fn the_per_member_limit_counts_live_applies() {
    let app = spawn_app().await;
    let form = [
        ("name", "两次活动".to_string()),
        ("price", "0".into()),
        ("seats", "10".into()),
        ("per_member_limit", "2".into()),
    ];
    let activity = app
        .post_form("/activityPlatform/activity/save", &form)
        .await
        .ok()["activity_id"]
        .as_u64()
        .unwrap();
    for _ in 0..2 {
        let applied = app.apply(9301, activity).await;
        // While the apply has no order, applying again returns it.
        assert_eq!(
            app.apply(9301, activity).await.ok()["apply_info"],
            applied.ok()["apply_info"]
        );
        let sku = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
        let parent = app.create(9301, &sku).await.ok()["parent_order_no"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            app.pay(9301, &parent).await.ok()["transaction_status"],
            "1",
            "free: paid at once"
        );
        let apply_id = applied.ok()["apply_info"]["apply_id"].as_u64().unwrap();
        crate::helpers::eventually(std::time::Duration::from_secs(5), "registered", || async {
            (app.apply_status(9301, apply_id).await == "registered").then_some(())
        })
        .await;
    }
    app.apply(9301, activity)
        .await
        .expect_error(409, 4_090_000_004);
    assert_eq!(app.activity_json(activity).await["registered"], 2);
}

#[test]
fn a_reservation_without_an_order_is_released_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let base = server.base.clone();
    let activity = crate::crash::save_activity(&base, 1);
    let applied = post(
        &client(),
        format!("{base}/activityPlatform/wxActivity/apply"),
        &[
            ("company_id", "421".into()),
            ("member_id", "77".into()),
            ("business_id", "10000001".into()),
            ("activity_id", activity.to_string()),
            ("name", "乙".into()),
            ("phone", "13800000000".into()),
        ],
    );
    assert_eq!(applied["code"], 200, "{applied}");
    assert_eq!(crate::crash::seats_left(&base, activity), 0);
    server.kill9();
    // Down past the reservation's end.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let server = Server::start(dir.path(), 2);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while crate::crash::seats_left(&server.base, activity) != 1 {
        assert!(
            std::time::Instant::now() < until,
            "the lapsed reservation still holds the seat"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
