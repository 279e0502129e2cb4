//! Mounting kvfs: options and their defaults, /proc/mounts, remount, refused
//! options and their kernel log lines, separate stores, and the module's
//! reference while mounted.

use crate::common::{self, assert_errno, describe_output, Mount};
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// Calls mount(2) for kvfs on `dir` with `flags` and `options`, as mount(8)
/// does, so that a test sees the errno itself.
fn mount_syscall(dir: &Path, flags: libc::c_ulong, options: &str) -> io::Result<()> {
    let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
    let options = CString::new(options).unwrap();
    // mount(2) only reads the strings.
    // SAFETY: Every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"kvfs".as_ptr(),
            target.as_ptr(),
            c"kvfs".as_ptr(),
            flags,
            options.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asserts that kvfs refuses to mount with `options`: mount(2) fails with
/// EINVAL, mount(8) exits non-zero, and the kernel log has a `kvfs:` line
/// containing `logged`.
#[track_caller]
fn assert_refused(options: &str, logged: &str) {
    let dir = tempfile::Builder::new()
        .prefix("kvfs-refused.")
        .tempdir_in("/tmp")
        .unwrap();
    let result = mount_syscall(dir.path(), 0, options);
    if result.is_ok() {
        let _ = Command::new("umount").arg(dir.path()).status();
    }
    assert_errno(result, libc::EINVAL, format!("mount(2) with {options:?}"));

    if let Ok(mount) = Mount::try_new(options) {
        panic!("mount(8) with {options:?} succeeded: {}", mount.options());
    }

    let lines = kernel_log(logged);
    assert!(
        lines.iter().any(|line| line.starts_with("kvfs:")),
        "no kernel log line starts with \"kvfs:\" and contains {logged:?} after mounting \
         with {options:?}; lines containing it: {lines:?}"
    );
}

/// Asserts that remounting `mount` with `options` fails in mount(8) and
/// with EINVAL in mount(2), and leaves the options as they were (`before`);
/// `why` says what makes the options wrong, for the failure message.
#[track_caller]
fn assert_remount_refused(mount: &Mount, options: &str, before: &str, why: &str) {
    let output = mount.remount(options);
    assert!(
        !output.status.success(),
        "remount with {options}{why} succeeded: {}",
        mount.options()
    );
    assert_errno(
        mount_syscall(mount.path(), libc::MS_REMOUNT, options),
        libc::EINVAL,
        format!("mount(2) MS_REMOUNT with {options}"),
    );
    assert_eq!(
        mount.options(),
        before,
        "after refused remount with {options}"
    );
}

/// The messages of the kernel log (without their timestamps) that contain
/// `text`.
fn kernel_log(text: &str) -> Vec<String> {
    let output = Command::new("dmesg").output().unwrap();
    assert!(output.status.success(), "{}", describe_output(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(text))
        .map(|line| match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(rest, |(_, m)| m).to_owned(),
            None => line.to_owned(),
        })
        .collect()
}

/// Formats `bytes` as /proc/mounts shows sizes: with the largest binary
/// suffix that divides it exactly.
fn size_text(bytes: u64) -> String {
    for (shift, suffix) in [(30, 'g'), (20, 'm'), (10, 'k')] {
        if bytes % (1 << shift) == 0 {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[test]
fn proc_mounts_shows_every_option_with_the_largest_exact_suffix() {
    let mount =
        Mount::new("mode=750,uid=65534,gid=65534,max_keys=2k,max_bytes=3072m,max_value=1536k");
    let options = mount.options();
    assert!(
        options
            .contains(",mode=750,uid=65534,gid=65534,max_keys=2048,max_bytes=3g,max_value=1536k"),
        "/proc/mounts options: {options}"
    );
}

#[test]
fn a_size_that_no_suffix_divides_is_shown_in_bytes() {
    let mount = Mount::new("max_bytes=1048577,max_value=1025");
    let options = mount.options();
    assert!(
        options.contains(",max_bytes=1048577,max_value=1025"),
        "/proc/mounts options: {options}"
    );
}

#[test]
fn the_defaults_are_a_quarter_of_memory_and_16m_values() {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MemTotal in /proc/meminfo:\n{meminfo}"));
    let max_bytes = total_kib * 1024 / 4;
    let expected = format!(
        ",mode=1777,uid=0,gid=0,max_keys={},max_bytes={},max_value={}",
        max_bytes / 1024,
        size_text(max_bytes),
        size_text(max_bytes.min(16 << 20))
    );

    let mount = Mount::new("");
    let options = mount.options();
    assert!(
        options.contains(&expected),
        "/proc/mounts options: {options}\nexpected: {expected}\n(MemTotal {total_kib} kB)"
    );
}

#[test]
fn the_root_directory_defaults_to_mode_1777_owned_by_root() {
    let mount = Mount::new("");
    let root = fs::metadata(mount.path()).unwrap();
    assert_eq!(
        (root.mode() & 0o7777, root.uid(), root.gid()),
        (0o1777, 0, 0),
        "(mode, uid, gid) of the root"
    );
}

#[test]
fn mode_uid_and_gid_set_the_root_directory() {
    let mount = Mount::new("mode=750,uid=65534,gid=65533");
    let root = fs::metadata(mount.path()).unwrap();
    assert_eq!(
        (root.mode() & 0o7777, root.uid(), root.gid()),
        (0o750, 65534, 65533),
        "(mode, uid, gid) of the root; options {}",
        mount.options()
    );
}

#[test]
fn a_repeated_option_takes_its_last_value() {
    let mount = Mount::new("max_keys=5,mode=700,max_keys=7,mode=755");
    let options = mount.options();
    assert!(
        options.contains(",mode=755,") && options.contains(",max_keys=7,"),
        "/proc/mounts options: {options}"
    );
}

#[test]
fn each_mount_is_a_store_of_its_own() {
    let one = Mount::new("");
    let two = Mount::new("");
    fs::write(one.key("k"), b"one").unwrap();
    assert!(!two.key("k").exists(), "{}", two.describe());
    fs::write(two.key("k"), b"two").unwrap();
    assert_eq!(fs::read(one.key("k")).unwrap(), b"one");
    assert_eq!(fs::read(two.key("k")).unwrap(), b"two");

    let name = one.path().file_name().unwrap();
    fs::write(one.path().join(name), b"v").unwrap();
    assert!(
        !common::mount().join(name).exists(),
        "a key put in {:?} shows in the shared mount",
        one.path()
    );
}

#[test]
fn remount_raises_max_keys() {
    let mount = Mount::new("max_keys=1");
    fs::write(mount.key("a"), b"v").unwrap();
    assert_errno(
        File::create(mount.key("b")),
        libc::ENOSPC,
        format!("a second key with max_keys=1\n{}", mount.describe()),
    );

    let output = mount.remount("max_keys=2");
    assert!(output.status.success(), "{}", describe_output(&output));
    assert!(
        mount.options().contains(",max_keys=2,"),
        "{}",
        mount.options()
    );
    fs::write(mount.key("b"), b"v").unwrap();
}

#[test]
fn remount_lowers_limits_that_still_fit() {
    let mount = Mount::new("max_keys=10,max_bytes=1m,max_value=64k");
    fs::write(mount.key("a"), [b'v'; 1000]).unwrap();
    fs::write(mount.key("b"), [b'v'; 1000]).unwrap();

    let output = mount.remount("max_keys=2,max_bytes=2000,max_value=1500");
    assert!(output.status.success(), "{}", describe_output(&output));
    let options = mount.options();
    assert!(
        options.contains(",max_keys=2,max_bytes=2000,max_value=1500"),
        "{options}"
    );
    assert_errno(
        File::create(mount.key("c")),
        libc::ENOSPC,
        format!(
            "a third key after remount with max_keys=2\n{}",
            mount.describe()
        ),
    );
    assert_errno(
        fs::write(mount.key("a"), [b'v'; 1501]),
        libc::EFBIG,
        format!(
            "a 1501-byte put after remount with max_value=1500\n{}",
            mount.describe()
        ),
    );
}

#[test]
fn remount_below_current_use_fails_with_einval_and_changes_nothing() {
    let mount = Mount::new("max_keys=10,max_bytes=1m,max_value=64k");
    fs::write(mount.key("a"), [b'a'; 4096]).unwrap();
    fs::write(mount.key("b"), [b'b'; 4096]).unwrap();
    let before = mount.options();

    for options in ["max_keys=1", "max_bytes=8191,max_value=4k"] {
        assert_remount_refused(&mount, options, &before, " below 2 keys of 4096 bytes");
    }
    assert_eq!(fs::read(mount.key("a")).unwrap(), [b'a'; 4096]);
    assert_eq!(fs::read(mount.key("b")).unwrap(), [b'b'; 4096]);
    fs::write(mount.key("c"), b"v").unwrap();
}

#[test]
fn remount_with_a_refused_option_fails_with_einval_and_changes_nothing() {
    let mount = Mount::new("max_keys=10");
    let before = mount.options();
    for options in ["max_keys=20,bogus=1", "max_keys=twenty"] {
        assert_remount_refused(&mount, options, &before, "");
    }
}

#[test]
fn an_unknown_option_fails_the_mount_with_einval_and_is_logged() {
    assert_refused("size=1m", "size");
}

#[test]
fn a_malformed_option_fails_the_mount_with_einval_and_is_logged() {
    assert_refused("max_keys=lots", "max_keys=lots");
    assert_refused("mode=9", "mode=9");
}

#[test]
fn max_value_larger_than_max_bytes_fails_the_mount_with_einval_and_is_logged() {
    assert_refused("max_bytes=1k,max_value=2k", "max_value");
}

#[test]
fn the_module_cannot_be_unloaded_while_mounted() {
    let output = Command::new("rmmod").arg("kvfs").output().unwrap();
    let modules = fs::read_to_string("/proc/modules").unwrap();
    assert!(
        !output.status.success() && modules.lines().any(|l| l.starts_with("kvfs ")),
        "rmmod kvfs with {:?} mounted:\n{}",
        common::mount(),
        describe_output(&output)
    );
}
