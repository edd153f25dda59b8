//! Storage faults from outside, with the real binary: a store behind what it acknowledged
//! (truncated, damaged near its end, `db` deleted) is refused; a full disk answers 503 and
//! is not ready, and the service comes back once space is freed — by itself while the
//! disk guard kept sled from failing, or by exiting for a restart when sled failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash::{client, place_orders, save_activity, state, Placed, Server};
use crate::robustness::expect_refusal;

/// Stops the server with SIGTERM and waits for a clean exit.
fn stop_cleanly(mut server: Server) {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "SIGTERM not sent");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = server.child.try_wait().expect("child status") {
            assert!(exit.success(), "unclean exit after SIGTERM: {exit}");
            return;
        }
        assert!(Instant::now() < until, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A store with `orders` acknowledged orders, stopped cleanly.
fn store_with_orders(dir: &Path, orders: u64) -> Vec<Placed> {
    let server = Server::start(dir, 480);
    let activity = save_activity(&server.base, orders + 10);
    let placed = place_orders(&server.base, activity, 1..orders + 1);
    stop_cleanly(server);
    placed
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn a_store_behind_what_it_acknowledged_is_refused_and_left_as_it_is() {
    let original = tempfile::tempdir().expect("temp dir");
    let placed = store_with_orders(original.path(), 120);
    assert_eq!(placed.len(), 120);

    // The untouched store opens and has every order.
    let intact = tempfile::tempdir().expect("temp dir");
    copy_dir(original.path(), intact.path());
    let server = Server::start(intact.path(), 480);
    let client = client();
    for order in &placed {
        state(&client, &server.base, order);
    }
    stop_cleanly(server);

    type Damage = fn(&Path);
    let damages: [(&str, Damage); 3] = [
        ("db truncated to half", |db| {
            let length = std::fs::metadata(db).expect("db").len();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(db)
                .expect("db opens");
            file.set_len(length / 2).expect("truncated");
        }),
        ("random bytes at 95 % of db", |db| {
            use std::io::{Seek, SeekFrom, Write};
            let length = std::fs::metadata(db).expect("db").len();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(db)
                .expect("db opens");
            file.seek(SeekFrom::Start(length * 95 / 100)).expect("seek");
            let noise: Vec<u8> = (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            file.write_all(&noise).expect("noise written");
        }),
        ("db deleted, conf kept", |db| {
            std::fs::remove_file(db).expect("db removed");
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(original.path(), dir.path());
        let db = dir.path().join("db");
        damage(&db);
        let before = std::fs::read(&db).unwrap_or_default();
        let witness = std::fs::read(dir.path().join("witness")).expect("witness");
        expect_refusal(dir.path());
        let after = std::fs::read(&db).unwrap_or_default();
        let kept = before
            .iter()
            .zip(&after)
            .take_while(|(a, b)| a == b)
            .count();
        // sled's own recovery pads a torn log when it opens it, before the witness can be
        // compared; what sled could still read before the damage must be untouched.
        assert!(
            kept >= before.len() * 9 / 10,
            "{what}: only {kept} of {} bytes kept",
            before.len()
        );
        assert_eq!(
            std::fs::read(dir.path().join("witness")).expect("witness"),
            witness,
            "{what}: the witness was rewritten"
        );
    }
}

/// A small tmpfs for one test (the tests run as root, as CI does), unmounted at the end.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u64) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs (the full-disk tests need root, as on CI)"
        );
        Tmpfs { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn filler(&self) -> PathBuf {
        self.dir.path().join("filler")
    }

    fn available(&self) -> u64 {
        fs2::available_space(self.dir.path()).expect("statvfs")
    }

    /// Fills the filesystem until `leave` bytes are free.
    fn fill_leaving(&self, leave: u64) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("filler");
        let chunk = vec![0x5au8; 64 * 1024];
        while self.available() > leave {
            let want = (self.available() - leave).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..want.max(1)]).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
    }

    fn free_space(&self) {
        std::fs::remove_file(self.filler()).expect("filler removed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

fn get_text(base: &str, path: &str) -> (u16, String) {
    match client().get(format!("{base}{path}")).send() {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn try_order(base: &str, activity: u64, member: u64) -> Result<Placed, serde_json::Value> {
    crate::crash::try_order(&client(), base, activity, member)
}

fn assert_storage_refusal(reply: &serde_json::Value) {
    assert_eq!(
        reply["code"], 5_030_000_000u64,
        "a full disk must answer 5030000000, got {reply}"
    );
    assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[test]
fn a_nearly_full_disk_answers_503_is_not_ready_and_resumes_by_itself() {
    let disk = Tmpfs::mount(64);
    let env = [("ORDERCENTER_DISK_RESERVE_MB", "16")];
    let server = Server::start_with_env(&disk.data(), 480, &env);
    let activity = save_activity(&server.base, 1000);
    let mut placed = place_orders(&server.base, activity, 1..21);

    disk.fill_leaving(8 << 20);
    wait_for("/readyz to turn not ready", Duration::from_secs(5), || {
        get_text(&server.base, "/readyz").0 == 503
    });
    let refused = try_order(&server.base, activity, 100).expect_err("a write on a full disk");
    assert_storage_refusal(&refused);
    let (_, metrics) = get_text(&server.base, "/metrics");
    assert!(metrics.contains("ordercenter_ready 0"), "{metrics}");
    assert!(
        metrics.contains("ordercenter_storage_writable 0"),
        "{metrics}"
    );
    assert_eq!(
        get_text(&server.base, "/healthz").0,
        200,
        "a restart would not help"
    );
    // Reads still work while writes are refused.
    let client = client();
    for order in &placed {
        state(&client, &server.base, order);
    }

    disk.free_space();
    wait_for(
        "/readyz to turn ready again",
        Duration::from_secs(5),
        || get_text(&server.base, "/readyz").0 == 200,
    );
    placed.push(try_order(&server.base, activity, 101).expect("writes resume once space is back"));

    server.kill9();
    let server = Server::start_with_env(&disk.data(), 480, &env);
    for order in &placed {
        state(&client, &server.base, order);
    }
}

#[test]
fn a_store_that_failed_on_a_full_disk_answers_503_then_exits_for_a_restart_losing_nothing() {
    let disk = Tmpfs::mount(40);
    // No reserve: let sled itself hit the full disk.
    let env = [("ORDERCENTER_DISK_RESERVE_MB", "0")];
    let mut server = Server::start_with_env(&disk.data(), 480, &env);
    let activity = save_activity(&server.base, 100_000);
    let mut placed = place_orders(&server.base, activity, 1..11);

    disk.fill_leaving(256 << 10);
    let mut refused = None;
    for member in 1000..6000 {
        match try_order(&server.base, activity, member) {
            Ok(order) => placed.push(order),
            Err(reply) => {
                refused = Some(reply);
                break;
            }
        }
    }
    let refused = refused.expect("the disk never filled up");
    assert_storage_refusal(&refused);
    assert_eq!(
        get_text(&server.base, "/readyz").0,
        503,
        "ready on a failed store"
    );
    let again = try_order(&server.base, activity, 9999).expect_err("a failed store took a write");
    assert_storage_refusal(&again);
    // It waits for space rather than restart onto a disk that is still full.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        server.child.try_wait().expect("child status").is_none(),
        "exited while the disk was still full"
    );
    assert_eq!(get_text(&server.base, "/readyz").0, 503);
    assert_eq!(
        get_text(&server.base, "/healthz").0,
        503,
        "a store that cannot write again is not alive"
    );

    disk.free_space();
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("child status") {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the failed store never exited for a restart"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(75), "exit status of a failed store");

    let server = Server::start_with_env(&disk.data(), 480, &env);
    let client = client();
    for order in &placed {
        state(&client, &server.base, order);
    }
    try_order(&server.base, activity, 7777).expect("the restarted service takes orders");
}
