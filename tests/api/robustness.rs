//! Stores that cannot be opened, lost data dirs, per-member limits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::crash::{apply, client, post, Server};
use crate::helpers::{
    create_form, data_of, spawn_app, Applied, KillOnDrop, Member, Order, Status, TestApp,
};

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
fn a_damaged_config_file_stops_the_service_and_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    create_store(dir.path());
    std::fs::write(dir.path().join("conf"), b"garbage garbage garbage\n").unwrap();

    expect_refusal(dir.path());

    assert_eq!(
        std::fs::read(dir.path().join("conf")).unwrap(),
        b"garbage garbage garbage\n",
        "conf rewritten"
    );
}

/// sled would recover a damaged log as empty; the service refuses to start over.
#[test]
fn a_damaged_log_stops_the_service_rather_than_start_empty() {
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
        let applied: Applied = data_of(&apply(&client(), &base, 1, 1));
        let created = post(
            &client(),
            format!("{base}/shop/order/create"),
            &create_form(1, &applied.sku_slice),
        );
        let order: Order = data_of(&created);
        let parent = order.parent_order_no;
        assert!(
            seen.insert(parent.clone()) && seen.insert(order.order_no),
            "round {round}: {parent} reused"
        );
        assert!(parent > last, "round {round}: {parent} not after {last}");
        last = parent;
        // Crash, lose everything, start again at once.
        server.kill9();
        drop(dir);
    }
}

/// An activity that takes two live applies per member, free so that paying is immediate.
async fn two_per_member(app: &TestApp) -> u64 {
    let form = [
        ("name", "两次活动".to_string()),
        ("price", "0".into()),
        ("seats", "10".into()),
        ("per_member_limit", "2".into()),
    ];
    app.post_form("/activityPlatform/activity/save", &form)
        .await
        .ok()["activity_id"]
        .as_u64()
        .unwrap()
}

/// `member` orders `applied` (free: paid at once) and waits for the registration.
async fn register(member: Member<'_>, applied: &Applied) {
    let order = member.create_order(applied).await;
    assert_eq!(
        member.pay(&order).await.status,
        Status::Paid,
        "free: paid at once"
    );
    member.wait_registered(applied.apply_info.apply_id).await;
}

#[actix_web::test]
async fn applying_again_before_ordering_returns_the_pending_apply() {
    let app = spawn_app().await;
    let activity = two_per_member(&app).await;
    let member = app.member(9301);
    let first = member.apply(activity).await;
    let first_again = member.apply(activity).await;
    register(member, &first).await;

    let second = member.apply(activity).await;
    let second_again = member.apply(activity).await;

    assert_eq!(first_again.apply_info, first.apply_info);
    assert_ne!(second.apply_info.apply_id, first.apply_info.apply_id);
    assert_eq!(second_again.apply_info, second.apply_info);
}

#[actix_web::test]
async fn the_per_member_limit_counts_live_applies() {
    let app = spawn_app().await;
    let activity = two_per_member(&app).await;
    let member = app.member(9311);
    for _ in 0..2 {
        let applied = member.apply(activity).await;
        register(member, &applied).await;
    }

    let third = member.try_apply(activity).await;

    third.expect_error(409, 4_090_000_004);
    assert_eq!(app.activity(activity).await.registered, 2);
}

#[test]
fn a_reservation_without_an_order_is_released_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let base = server.base.clone();
    let activity = crate::crash::save_activity(&base, 1);
    let applied = apply(&client(), &base, 77, activity);
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

const TEST_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/paysim_test_key.pem"
);

/// A SIGKILL during the very first start, before it acknowledged anything, must leave a data
/// dir the next start opens. Each attempt kills a fresh start a little later, so some land
/// while sled creates its files.
#[test]
fn a_store_killed_while_it_is_created_opens_at_the_next_start() {
    for delay_ms in [5, 10, 15, 20, 30, 40, 60, 80].repeat(2) {
        let dir = tempfile::tempdir().unwrap();
        let mut creating = KillOnDrop::new(
            Command::new(env!("CARGO_BIN_EXE_ordercenter"))
                .args(["--listen", "127.0.0.1:0"])
                .arg("--data-dir")
                .arg(dir.path())
                .arg("--paysim-key-file")
                .arg(TEST_KEY)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("binary runs"),
        );
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        creating.kill().expect("SIGKILL sent");
        creating.wait().expect("child reaped");

        let mut next = KillOnDrop::new(
            Command::new(env!("CARGO_BIN_EXE_ordercenter"))
                .args(["--listen", "127.0.0.1:0"])
                .arg("--data-dir")
                .arg(dir.path())
                .arg("--paysim-key-file")
                .arg(TEST_KEY)
                .env("RUST_LOG", "error")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("binary runs"),
        );
        let mut line = String::new();
        let _ = BufReader::new(next.stdout.take().expect("stdout")).read_line(&mut line);
        if !line.contains("listening") {
            let output = next.wait_with_output();
            panic!(
                "killed {delay_ms} ms into its first start, the store is refused: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
