//! The crash-and-fault harness, small: `loadgen --scenario chaos` runs the real server,
//! SIGKILLs it at random moments over several rounds with the simulator injecting latency,
//! errors and dropped notifies, and exits 1 when an invariant is violated. The big run is in
//! the README.

use crate::helpers::run_loadgen;

#[test]
fn the_flow_survives_random_sigkills_and_provider_faults() {
    let server_bin = env!("CARGO_BIN_EXE_ordercenter");
    let (report, success) = run_loadgen(&[
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
        "--server-bin",
        server_bin,
    ]);
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    assert!(success, "{report}");
    assert_eq!(report["acknowledged_orders"], 60, "{report}");
    assert!(report["paid"].as_u64().unwrap() > 0, "{report}");
}
