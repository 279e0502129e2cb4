//! Stress: processes and threads racing on overlapping keys (kvfs-stress).

use crate::common::Namespace;
use assert_cmd::Command;

/// How long the stress run lasts; `KVFS_STRESS_SECONDS` overrides it.
fn seconds() -> String {
    std::env::var("KVFS_STRESS_SECONDS").unwrap_or_else(|_| "10".to_string())
}

#[test]
fn racing_puts_gets_appends_renames_and_deletes_keep_every_value_whole() {
    let ns = Namespace::new("stress");
    let output = Command::cargo_bin("kvfs-stress")
        .unwrap()
        .arg(ns.path())
        .args([seconds().as_str(), "4", "2"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    // The figures belong in the test log, whatever the outcome.
    println!("{report}");
    assert!(
        output.status.success() && report.contains("stress: 0 violations"),
        "kvfs-stress failed ({}):\n{report}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        ns.describe()
    );
}
