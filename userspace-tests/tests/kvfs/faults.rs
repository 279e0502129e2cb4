//! Fault injection: kvfs while the kernel fails allocations (failslab).

use crate::common::Mount;
use assert_cmd::Command;
use std::collections::HashSet;
use std::fs;
use userspace_tests::check_value;
use walkdir::WalkDir;

const FAILSLAB: &str = "/sys/kernel/debug/failslab";

fn set(knob: &str, value: &str) {
    let path = format!("{FAILSLAB}/{knob}");
    fs::write(&path, value).unwrap_or_else(|e| panic!("writing {value} to {path}: {e}"));
}

/// The address range of kvfs's code: `.text` and what follows it in the
/// module's core allocation.
fn kvfs_code() -> (u64, u64) {
    let read =
        |path: &str| fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let text = read("/sys/module/kvfs/sections/.text");
    let start = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).unwrap();
    let size: u64 = read("/sys/module/kvfs/coresize").trim().parse().unwrap();
    assert_ne!(start, 0, "the kernel hides module addresses");
    (start, start + size)
}

/// Fails one in `percent` of the slab allocations made with kvfs's code on
/// the stack, in processes that ask for it (`/proc/self/make-it-fail`),
/// sleeping allocations included. Allocations made for the process itself
/// (its page faults, its other system calls) do not fail, so it can run.
fn inject_faults(percent: u32) {
    let (start, end) = kvfs_code();
    set("require-start", &start.to_string());
    set("require-end", &end.to_string());
    set("stacktrace-depth", "32");
    set("task-filter", "Y");
    set("ignore-gfp-wait", "N");
    set("interval", "1");
    set("times", "-1");
    set("space", "0");
    set("verbose", "0");
    set("probability", &percent.to_string());
}

#[test]
#[ignore = "needs failslab, in the debug kernel: make test PROFILE=debug"]
fn failing_allocations_fail_calls_cleanly_and_leave_the_store_consistent() {
    let mount = Mount::new("max_keys=1000,max_bytes=64m,max_value=1m");
    inject_faults(10);
    let output = Command::cargo_bin("kvfs-faults")
        .unwrap()
        .arg(mount.path())
        .args(["3000", "7"])
        .output()
        .unwrap();
    inject_faults(0);
    let report = String::from_utf8_lossy(&output.stdout);
    let figures: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("faults:"))
        .collect();
    println!("{}", figures.join("\n"));
    assert!(
        output.status.success() && report.contains("faults: 0 violations"),
        "kvfs-faults ({}):\n{}\n{}\n{}",
        output.status,
        figures.join("\n"),
        String::from_utf8_lossy(&output.stderr),
        mount.describe()
    );
    assert!(
        !report.contains(" 0 failed with ENOMEM"),
        "no allocation failed, so nothing was tested:\n{}",
        figures.join("\n")
    );

    // Every key holds a whole value that a put reported committed, or the
    // empty value of a key whose first put failed.
    let committed: HashSet<(u64, u64)> = report
        .lines()
        .filter_map(|l| l.strip_prefix("put "))
        .map(|l| {
            let (w, s) = l.split_once(' ').unwrap();
            (w.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    let (mut entries, mut bytes) = (0u64, 0u64);
    for entry in WalkDir::new(mount.path()).min_depth(1) {
        let entry = entry.unwrap();
        entries += 1;
        if entry.file_type().is_dir() || entry.file_name() == "log" {
            bytes += entry.metadata().unwrap().len();
            continue;
        }
        let value = fs::read(entry.path()).unwrap();
        bytes += value.len() as u64;
        if !value.is_empty() {
            let pair = check_value(&value)
                .unwrap_or_else(|why| panic!("{} is torn: {why}", entry.path().display()));
            assert!(
                committed.contains(&pair),
                "{} holds {pair:?}, which no successful put wrote",
                entry.path().display()
            );
        }
    }

    // The store's accounting agrees with what it holds.
    let stat = statfs_counts(mount.path());
    assert_eq!(
        stat.0 - stat.1,
        entries,
        "keys in use by statfs vs entries found"
    );
    assert_eq!(
        stat.2 - stat.3,
        bytes.div_ceil(4096),
        "blocks in use vs bytes found"
    );

    // And it is still usable.
    fs::write(mount.key("after"), b"still works").unwrap();
    assert_eq!(fs::read(mount.key("after")).unwrap(), b"still works");
}

/// f_files, f_ffree, f_blocks and f_bfree of the filesystem at `path`.
fn statfs_counts(path: &std::path::Path) -> (u64, u64, u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `statvfs` is plain data; all-zero is a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` is writable.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
    (stat.f_files, stat.f_ffree, stat.f_blocks, stat.f_bfree)
}
