//! Backups: `POST /admin/backup` of a running service under load, restored into a fresh
//! process; `ordercenter backup` of a stopped one.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::helpers::{create_form, spawn_app_with, Reply, Status, TestApp};

const TOKEN: &str = "b4ckup";

async fn spawn(backups: &std::path::Path) -> TestApp {
    let backups = backups.to_path_buf();
    spawn_app_with(move |c| {
        c.admin_token = Some(TOKEN.into());
        c.backup_dir = Some(backups);
    })
    .await
}

async fn backup(app: &TestApp, form: &[(&str, String)]) -> Reply {
    app.send(app.client.post(app.url("/admin/backup")).form(form))
        .await
}

/// An order the load made and when its 200 came.
#[derive(Clone)]
struct Acknowledged {
    at: Instant,
    member: u64,
    parent_order_no: String,
}

/// Creates orders from `workers` members at a time until `stop`, recording each 200.
fn load(
    app: &TestApp,
    activity: u64,
    workers: u64,
    stop: Arc<AtomicBool>,
) -> (
    Arc<Mutex<Vec<Acknowledged>>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..workers)
        .map(|worker| {
            let (client, base, stop, acknowledged) = (
                app.client.clone(),
                app.base.clone(),
                stop.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                let mut member = 50_000 + worker * 10_000;
                while !stop.load(Ordering::Relaxed) {
                    member += 1;
                    let apply = crate::helpers::apply_form(member, activity);
                    let applied: Value = match client
                        .post(format!("{base}/activityPlatform/wxActivity/apply"))
                        .form(&apply)
                        .send()
                        .await
                    {
                        Ok(response) => response.json().await.unwrap_or(Value::Null),
                        Err(_) => continue,
                    };
                    let Some(sku) = applied["data"]["sku_slice"].as_str() else {
                        continue;
                    };
                    let created: Value = match client
                        .post(format!("{base}/shop/order/create"))
                        .form(&create_form(member, sku))
                        .send()
                        .await
                    {
                        Ok(response) => response.json().await.unwrap_or(Value::Null),
                        Err(_) => continue,
                    };
                    if let Some(parent) = created["data"]["parent_order_no"].as_str() {
                        acknowledged.lock().push(Acknowledged {
                            at: Instant::now(),
                            member,
                            parent_order_no: parent.to_owned(),
                        });
                    }
                }
            })
        })
        .collect();
    (acknowledged, tasks)
}

#[actix_web::test]
async fn a_backup_under_load_restored_into_a_fresh_process_has_every_order_acknowledged_before_it()
{
    let backups = tempfile::tempdir().unwrap();
    let app = spawn(backups.path()).await;
    let saved = app
        .post_form(
            "/activityPlatform/activity/save",
            &[
                ("name", "备份活动".into()),
                ("price", "1".into()),
                ("seats", "100000".into()),
                ("admin_token", TOKEN.into()),
            ],
        )
        .await;
    let activity = saved.ok()["activity_id"].as_u64().expect("activity_id");
    let stop = Arc::new(AtomicBool::new(false));
    let (acknowledged, tasks) = load(&app, activity, 8, stop.clone());
    crate::helpers::eventually(Duration::from_secs(20), "orders under load", || async {
        (acknowledged.lock().len() >= 200).then_some(())
    })
    .await;

    let began = Instant::now();
    let reply = backup(
        &app,
        &[("name", "under-load".into()), ("admin_token", TOKEN.into())],
    )
    .await;
    let report = reply.ok().clone();
    let made_during = acknowledged.lock().iter().filter(|a| a.at >= began).count();
    // The load goes on a little after the backup, then stops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let before: Vec<Acknowledged> = acknowledged
        .lock()
        .iter()
        .filter(|a| a.at < began)
        .cloned()
        .collect();
    assert!(before.len() >= 200);
    let copy = backups.path().join("under-load");
    assert_eq!(report["to"], copy.display().to_string());
    assert!(
        copy.join("BACKUP").exists(),
        "the marker of a finished backup"
    );
    assert!(report["keys"].as_u64().unwrap() > before.len() as u64);
    eprintln!(
        "backup under load: {} orders before it, {made_during} made during it; {report}",
        before.len()
    );

    let restored = spawn_app_with({
        let copy = copy.clone();
        move |c| {
            c.data_dir = copy;
            c.admin_token = Some(TOKEN.into());
        }
    })
    .await;
    for order in &before {
        let state = restored
            .member(order.member)
            .try_state(order.parent_order_no.as_str())
            .await;
        assert_eq!(
            state.status, 200,
            "order {} (acknowledged before the backup) missing after restore: {}",
            order.parent_order_no, state.text
        );
    }
    // Every order in the copy is whole: its history ends in its creation, its seat is held.
    let shown = restored
        .send(
            restored
                .client
                .get(restored.url(&format!("/admin/orders/{}", before[0].parent_order_no)))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(shown.ok()["status"], "unpaid", "{}", shown.text);
    let seats = restored.activity(activity).await;
    let total_orders = acknowledged.lock().len() as u64;
    assert!(
        seats.seats_left <= 100_000 - before.len() as u64
            && seats.seats_left >= 100_000 - total_orders - 8,
        "seats left {} for {} orders before the backup, {} in all",
        seats.seats_left,
        before.len(),
        total_orders
    );
    assert_eq!(
        restored
            .member(before[0].member)
            .state(before[0].parent_order_no.as_str())
            .await
            .status,
        Status::Unpaid
    );
}

#[actix_web::test]
async fn a_backup_needs_the_admin_token_and_a_plain_new_name() {
    let backups = tempfile::tempdir().unwrap();
    let app = spawn(backups.path()).await;

    backup(&app, &[]).await.expect_error(401, 4_010_000_000);
    backup(&app, &[("admin_token", "wrong".into())])
        .await
        .expect_error(401, 4_010_000_000);
    for bad in [
        "../escape",
        "a/b",
        ".hidden",
        "..",
        "名字",
        &"x".repeat(65),
        "a\0b",
    ] {
        let reply = backup(
            &app,
            &[("name", bad.to_owned()), ("admin_token", TOKEN.into())],
        )
        .await;
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.text);
        reply.expect_error(400, 4_000_000_001);
        assert!(reply.text.contains("name"), "{bad:?}: {}", reply.text);
    }
    assert!(
        std::fs::read_dir(backups.path()).map_or(0, |d| d.count()) == 0,
        "a refused backup wrote something"
    );
    assert!(!backups.path().parent().unwrap().join("escape").exists());

    let first = backup(
        &app,
        &[("name", "once".into()), ("admin_token", TOKEN.into())],
    )
    .await;
    first.ok();
    backup(
        &app,
        &[("name", "once".into()), ("admin_token", TOKEN.into())],
    )
    .await
    .expect_error(400, 4_000_000_001);
    let unnamed = backup(&app, &[("admin_token", TOKEN.into())]).await;
    let to = unnamed.ok()["to"].as_str().unwrap().to_owned();
    assert!(to.contains("backup-"), "{to}");
    let got = app.send(app.client.get(app.url("/admin/backup"))).await;
    got.expect_error(405, 4_050_000_000);
}

fn ordercenter(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ordercenter"))
        .args(args)
        .output()
        .expect("ordercenter runs")
}

#[actix_web::test]
async fn the_backup_command_copies_a_stopped_store_and_refuses_a_running_one() {
    let backups = tempfile::tempdir().unwrap();
    let mut app = spawn(backups.path()).await;
    let member = app.member(9901);
    let order = member.order(1).await;
    let data = app.dir.path().to_path_buf();
    let to = backups.path().join("offline");

    let running = {
        let (data, to) = (data.clone(), to.clone());
        tokio::task::spawn_blocking(move || {
            ordercenter(&[
                "backup".as_ref(),
                "--data-dir".as_ref(),
                data.as_os_str(),
                "--to".as_ref(),
                to.as_os_str(),
            ])
        })
        .await
        .unwrap()
    };
    assert!(!running.status.success());
    assert!(
        String::from_utf8_lossy(&running.stderr).contains("in use by a running ordercenter"),
        "{}",
        String::from_utf8_lossy(&running.stderr)
    );
    assert!(!to.exists());

    app.stop().await;
    let copied = ordercenter(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
    ]);
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let report: Value = serde_json::from_slice(&copied.stdout).expect("a JSON report");
    assert!(report["keys"].as_u64().unwrap() > 0);
    let again = ordercenter(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
    ]);
    assert!(!again.status.success(), "a backup over an existing one");

    let restored = spawn_app_with(move |c| c.data_dir = to).await;
    assert_eq!(
        restored.member(9901).state(&order).await.status,
        Status::Unpaid
    );
}
