//! Production mode: against a real provider every credential must be given. The embedded
//! defaults are the simulator's keys, public in this repository.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ordercenter::provider::sign::{notify_sign, SignType};
use ordercenter::provider::ProviderConfig;

use crate::helpers::KillOnDrop;

/// Every setting a real provider needs, as (variable, value).
const PRODUCTION: [(&str, &str); 8] = [
    ("ORDERCENTER_UMS_APP_ID", "10037e6f6a4e4ddb016a4ee3a6d10000"),
    (
        "ORDERCENTER_UMS_APP_KEY",
        "real-app-key-from-the-ums-console",
    ),
    ("ORDERCENTER_UMS_MID", "898310148160568"),
    ("ORDERCENTER_UMS_TID", "00000001"),
    ("ORDERCENTER_UMS_NOTIFY_KEY", "real-communication-key"),
    ("ORDERCENTER_MINI_APP_ID", "wx0123456789abcdef"),
    ("ORDERCENTER_PUBLIC_URL", "https://orders.example.com"),
    ("ORDERCENTER_ADMIN_TOKEN", "a-long-admin-token"),
];

fn command(dir: &std::path::Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ordercenter"));
    for (name, _) in PRODUCTION {
        command.env_remove(name);
    }
    command
        .env("ORDERCENTER_PROVIDER_URL", "http://127.0.0.1:9")
        .envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null());
    command
}

/// Runs the binary and expects it to exit on its own.
fn run_to_exit(dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut child = KillOnDrop::new(
        command(dir, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs"),
    );
    let until = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("status").is_none() {
        assert!(
            Instant::now() < until,
            "started against a real provider without its credentials"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output()
}

#[test]
fn a_real_provider_without_credentials_refuses_to_start_naming_each_missing_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run_to_exit(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status {}", output.status);
    assert!(output.stdout.is_empty(), "it listened anyway");
    for (name, _) in PRODUCTION {
        assert!(stderr.contains(name), "{name} not named: {stderr}");
    }
}

#[test]
fn a_real_provider_with_one_credential_missing_refuses_to_start_naming_only_that_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all_but_the_key: Vec<(&str, &str)> = PRODUCTION
        .iter()
        .copied()
        .filter(|(name, _)| *name != "ORDERCENTER_UMS_NOTIFY_KEY")
        .collect();
    let output = run_to_exit(dir.path(), &all_but_the_key);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("ORDERCENTER_UMS_NOTIFY_KEY"), "{stderr}");
    assert!(!stderr.contains("ORDERCENTER_UMS_APP_KEY"), "{stderr}");
}

#[test]
fn with_every_credential_it_starts_and_a_notify_signed_with_the_simulators_key_is_refused() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = KillOnDrop::new(
        command(dir.path(), &PRODUCTION)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("binary runs"),
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line:?}");

    // A TRADE_SUCCESS notify signed with the public default key, as anyone could forge.
    let mut fields = BTreeMap::new();
    for (name, value) in [
        ("merOrderId", "2013000000000000001"),
        ("status", "TRADE_SUCCESS"),
        ("totalAmount", "1"),
        ("payTime", "2026-12-01 10:00:00"),
        ("targetOrderId", "4200000000000000000000000001"),
    ] {
        fields.insert(name.to_owned(), value.to_owned());
    }
    let default_key = ProviderConfig::with_base_url("http://x").notify_key;
    fields.insert(
        "sign".into(),
        notify_sign(&fields, &default_key, SignType::Md5),
    );
    let response = reqwest::blocking::Client::new()
        .post(format!("{base}/trade/notify/ums"))
        .form(&fields)
        .send()
        .expect("notify sent");
    let status = response.status().as_u16();
    drop(child);
    assert_eq!(
        status, 400,
        "a notify signed with the simulator's public key must fail the signature check"
    );
}
