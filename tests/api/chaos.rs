//! The crash-and-fault harness, small: `loadgen --scenario chaos` runs the real server,
//! SIGKILLs it at random moments over several rounds with the simulator injecting latency,
//! errors and dropped notifies, and exits 1 when an invariant is violated. The big run is in
//! the README.

use std::process::Command;

#[test]
fn the_flow_survives_random_sigkills_and_provider_faults() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--scenario",
            "chaos",
            "--members",
            "60",
            "--concurrency",
            "30",
            "--rounds",
            "3",
            "--ttl",
            "6",
            "--json",
        ])
        .arg("--server-bin")
        .arg(env!("CARGO_BIN_EXE_ordercenter"))
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    assert!(output.status.success(), "{report}");
    assert_eq!(report["acknowledged_orders"], 60, "{report}");
    assert!(report["paid"].as_u64().unwrap() > 0, "{report}");
}
