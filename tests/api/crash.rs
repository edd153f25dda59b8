//! Crash recovery with the real binary as a child process killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    apply_form, create_form, data_of, order_form, pay_form, Activity, Applied, ApplyRecord,
    KillOnDrop, Order, State, Status, COMPANY,
};

/// A server child process, killed (SIGKILL) when dropped.
pub struct Server {
    pub child: KillOnDrop,
    pub base: String,
}

impl Server {
    pub fn start(data_dir: &Path, ttl: u64) -> Server {
        Self::start_with_env(data_dir, ttl, &[])
    }

    /// Starts the binary with extra environment variables (e.g. a crash point).
    pub fn start_with_env(data_dir: &Path, ttl: u64, env: &[(&str, &str)]) -> Server {
        Self::start_with(data_dir, ttl, env, "127.0.0.1:0", &[])
    }

    /// Starts the binary listening on `listen`, with extra environment variables and
    /// arguments.
    pub fn start_with(
        data_dir: &Path,
        ttl: u64,
        env: &[(&str, &str)],
        listen: &str,
        args: &[String],
    ) -> Server {
        let mut child = KillOnDrop::new(
            Command::new(env!("CARGO_BIN_EXE_ordercenter"))
                .envs(env.iter().copied())
                .args(args)
                .args([
                    "--listen",
                    listen,
                    "--order-ttl",
                    &ttl.to_string(),
                    "--workers",
                    "2",
                ])
                .arg("--data-dir")
                .arg(data_dir)
                .arg("--paysim-key-file")
                .arg(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/paysim_test_key.pem"),
                )
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("server starts"),
        );
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("address line");
        let base = line.trim().rsplit(' ').next().expect("address").to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "unexpected first line {line:?}"
        );
        let server = Server { child, base };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let client = client();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if client
                .get(format!("{}/readyz", self.base))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server never became ready");
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("child reaped");
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// POSTs `form`; returns the envelope.
pub fn post(client: &reqwest::blocking::Client, url: String, form: &[(&str, String)]) -> Value {
    let response = client.post(url).form(form).send().expect("request");
    response.json().expect("json body")
}

/// GETs `path` with `query` from the server at `base`; returns the envelope.
pub fn get(base: &str, path: &str, query: &[(&str, String)]) -> Value {
    client()
        .get(format!("{base}{path}"))
        .query(query)
        .send()
        .expect("request")
        .json()
        .expect("json body")
}

/// `member`'s apply for `activity` (the seed's form); returns the envelope.
pub fn apply(client: &reqwest::blocking::Client, base: &str, member: u64, activity: u64) -> Value {
    let form = apply_form(member, activity);
    post(
        client,
        format!("{base}/activityPlatform/wxActivity/apply"),
        &form,
    )
}

/// An order placed before a crash, as a test remembers it.
#[derive(Clone, Debug)]
pub struct Placed {
    pub member: u64,
    pub parent: String,
    pub deadline: u64,
}

/// Applies and creates for `member`: the order on success, else the refusing envelope.
pub fn try_order(
    client: &reqwest::blocking::Client,
    base: &str,
    activity: u64,
    member: u64,
) -> Result<Placed, Value> {
    let applied = apply(client, base, member, activity);
    if applied["code"] != 200 {
        return Err(applied);
    }
    let applied: Applied = data_of(&applied);
    let form = create_form(member, &applied.sku_slice);
    let created = post(client, format!("{base}/shop/order/create"), &form);
    if created["code"] != 200 {
        return Err(created);
    }
    let order: Order = data_of(&created);
    Ok(Placed {
        member,
        parent: order.parent_order_no,
        deadline: order.expire_time,
    })
}

/// Applies and creates one order per member, 8 at a time.
pub fn place_orders(base: &str, activity: u64, members: std::ops::Range<u64>) -> Vec<Placed> {
    let queue = Arc::new(Mutex::new(members.collect::<Vec<_>>()));
    let placed = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (queue, placed, base) = (queue.clone(), placed.clone(), base.to_owned());
            std::thread::spawn(move || {
                let client = client();
                while let Some(member) = queue.lock().unwrap().pop() {
                    match try_order(&client, &base, activity, member) {
                        Ok(order) => placed.lock().unwrap().push(order),
                        Err(refused) => panic!("member {member}: {refused}"),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let placed = placed.lock().unwrap().clone();
    placed
}

/// The state of `order`, which must exist.
pub fn state(client: &reqwest::blocking::Client, base: &str, order: &Placed) -> State {
    let reply = post(
        client,
        format!("{base}/shop/order/state"),
        &order_form(order.member, &order.parent),
    );
    assert_eq!(
        reply["code"], 200,
        "order {} lost after the crash: {reply}",
        order.parent
    );
    data_of(&reply)
}

fn now_ms() -> u64 {
    ordercenter::domain::time::now_millis()
}

pub fn save_activity(base: &str, seats: u64) -> u64 {
    let saved = post(
        &client(),
        format!("{base}/activityPlatform/activity/save"),
        &[
            ("name", "崩溃测试".into()),
            ("price", "1".into()),
            ("seats", seats.to_string()),
        ],
    );
    saved["data"]["activity_id"].as_u64().expect("activity id")
}

/// The activity's detail.
pub fn activity(base: &str, activity: u64) -> Activity {
    let detail = get(
        base,
        "/activityPlatform/wxActivity/detail",
        &[("activity_id", activity.to_string())],
    );
    data_of(&detail)
}

/// `member`'s apply `apply_id` as `applyInfo` shows it.
pub fn apply_record(base: &str, member: u64, apply_id: u64) -> ApplyRecord {
    let info = get(
        base,
        "/activityPlatform/wxActivity/applyInfo",
        &[
            ("apply_id", apply_id.to_string()),
            ("member_id", member.to_string()),
            ("company_id", COMPANY.to_string()),
        ],
    );
    data_of(&info)
}

pub fn seats_left(base: &str, id: u64) -> u64 {
    activity(base, id).seats_left
}

/// Acceptable lateness of an expiry on a noisy CI machine.
const SLACK_MS: u64 = 3000;

#[test]
fn sigkill_loses_no_order_and_every_order_closes_at_its_original_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = 12;
    let server = Server::start(dir.path(), ttl);
    let activity = save_activity(&server.base, 300);
    let placed = place_orders(&server.base, activity, 1..301);
    assert_eq!(placed.len(), 300);
    server.kill9();
    // Down long enough that deadlines counted from the restart would be clearly later.
    std::thread::sleep(Duration::from_secs(5));

    let server = Server::start(dir.path(), ttl);
    let restarted_at = ordercenter::domain::time::now_secs();
    let client = client();
    for order in &placed {
        let state = state(&client, &server.base, order);
        assert_eq!(state.expire_time, order.deadline, "deadline kept");
        if now_ms() + 500 < order.deadline * 1000 {
            assert_eq!(
                state.status,
                Status::Unpaid,
                "{} closed early",
                order.parent
            );
        }
    }
    // A deadline counted from the restart would be at least this late.
    let latest_original = placed.iter().map(|o| o.deadline).max().unwrap();
    assert!(
        restarted_at + ttl > latest_original + SLACK_MS / 1000,
        "the test cannot tell the two deadlines apart"
    );

    let mut open: Vec<Placed> = placed.clone();
    let give_up = Instant::now() + Duration::from_secs(ttl + 15);
    while !open.is_empty() {
        assert!(
            Instant::now() < give_up,
            "{} orders never closed",
            open.len()
        );
        let checked_at = now_ms();
        open.retain(|order| {
            let closed = state(&client, &server.base, order).status == Status::Closed;
            if closed {
                assert!(
                    checked_at + 1000 >= order.deadline * 1000,
                    "{} closed before its deadline",
                    order.parent
                );
                assert!(
                    checked_at <= order.deadline * 1000 + SLACK_MS,
                    "{} closed {} ms after its deadline",
                    order.parent,
                    checked_at - order.deadline * 1000
                );
            }
            !closed
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    // The closed notifications survived too: every seat is back.
    let until = Instant::now() + Duration::from_secs(10);
    while seats_left(&server.base, activity) != 300 {
        assert!(
            Instant::now() < until,
            "seats not released after the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn orders_whose_deadline_passed_while_down_close_at_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = 2;
    let server = Server::start(dir.path(), ttl);
    let activity = save_activity(&server.base, 60);
    let placed = place_orders(&server.base, activity, 1..51);
    server.kill9();
    std::thread::sleep(Duration::from_secs(ttl + 2));

    let server = Server::start(dir.path(), ttl);
    let ready_at = Instant::now();
    let client = client();
    let mut open = placed.clone();
    while !open.is_empty() {
        assert!(
            ready_at.elapsed() < Duration::from_millis(SLACK_MS),
            "{} overdue orders still open",
            open.len()
        );
        open.retain(|order| state(&client, &server.base, order).status != Status::Closed);
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = Instant::now() + Duration::from_secs(10);
    while seats_left(&server.base, activity) != 60 {
        assert!(
            Instant::now() < until,
            "seats not released after the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_payment_in_flight_across_a_sigkill_is_confirmed_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 60);
    let activity = save_activity(&server.base, 10);
    let placed = place_orders(&server.base, activity, 1..6);
    let client = client();
    for order in &placed {
        let paying = post(
            &client,
            format!("{}/shop/order/pay", server.base),
            &pay_form(order.member, &order.parent),
        );
        assert_eq!(paying["code"], 200, "{paying}");
    }
    // The provider's notifies get lost; the buyers pay; the order center dies at once.
    let faults = client
        .post(format!("{}/paysim/faults", server.base))
        .json(&serde_json::json!({"drop_notify_rate": 1.0}))
        .send()
        .unwrap();
    assert_eq!(faults.status(), 200);
    for order in &placed {
        let paid = client
            .post(format!("{}/paysim/pay", server.base))
            .form(&[("merOrderId", &order.parent)])
            .send()
            .unwrap();
        assert_eq!(paid.status(), 200);
    }
    server.kill9();

    let server = Server::start(dir.path(), 60);
    let until = Instant::now() + Duration::from_secs(20);
    let mut open = placed.clone();
    while !open.is_empty() {
        assert!(
            Instant::now() < until,
            "{} paid orders not confirmed after the restart",
            open.len()
        );
        open.retain(|order| state(&client, &server.base, order).status != Status::Paid);
        std::thread::sleep(Duration::from_millis(200));
    }
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let detail = crate::crash::activity(&server.base, activity);
        if detail.registered == 5 {
            break;
        }
        assert!(
            Instant::now() < until,
            "registrations not confirmed: {detail:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
