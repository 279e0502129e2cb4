//! Metadata: stat reports the committed size and the time of the last
//! commit; modes, owners, times and link counts behave as on any Linux
//! filesystem.

use crate::common::{mtime, sh, truncating_writer, Namespace};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn size(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

/// The wall clock as (seconds, nanoseconds).
fn now() -> (i64, i64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs() as i64, now.subsec_nanos() as i64)
}

/// Sleeps long enough that the kernel's coarse clock moves on.
fn let_the_clock_tick() {
    thread::sleep(Duration::from_millis(50));
}

/// Puts `value` under `path` and lets the clock tick, so that a later
/// commit gets a later mtime; returns the mtime of this put.
fn put_and_let_the_clock_tick(path: &Path, value: &[u8]) -> (i64, i64) {
    fs::write(path, value).unwrap();
    let first = mtime(path);
    let_the_clock_tick();
    first
}

#[test]
fn stat_shows_the_committed_size() {
    let ns = Namespace::new("meta_size");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();
    assert_eq!(size(&k), 5, "{}", ns.describe());
    fs::write(&k, b"hi").unwrap();
    assert_eq!(size(&k), 2, "{}", ns.describe());
    assert!(fs::metadata(&k).unwrap().is_file());
}

#[test]
fn st_size_stays_at_the_old_size_while_a_writer_has_pending_bytes() {
    let ns = Namespace::new("meta_pending_size");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();

    let mut writer = truncating_writer(&k);
    assert_eq!(size(&k), 5, "after open with O_TRUNC\n{}", ns.describe());
    writer.write_all(b"a longer pending value").unwrap();
    assert_eq!(size(&k), 5, "with bytes pending\n{}", ns.describe());

    writer.sync_all().unwrap();
    assert_eq!(size(&k), 22, "after fsync\n{}", ns.describe());
    writer.write_all(b"!").unwrap();
    assert_eq!(
        size(&k),
        22,
        "with bytes pending after fsync\n{}",
        ns.describe()
    );
    drop(writer);
    assert_eq!(size(&k), 23, "after close\n{}", ns.describe());
}

#[test]
fn mtime_changes_when_the_writer_commits_not_at_open() {
    let ns = Namespace::new("meta_mtime");
    let k = ns.key("k");
    let first = put_and_let_the_clock_tick(&k, b"v1");

    let mut writer = truncating_writer(&k);
    assert_eq!(mtime(&k), first, "after open with O_TRUNC");
    writer.write_all(b"v2").unwrap();
    let_the_clock_tick();
    assert_eq!(mtime(&k), first, "with bytes pending");

    let before_commit = now();
    drop(writer);
    let committed = mtime(&k);
    assert!(
        committed > first,
        "mtime {committed:?} did not move on from {first:?} at commit"
    );
    assert!(
        committed.0 >= before_commit.0 - 1,
        "mtime {committed:?} is older than the commit at {before_commit:?}"
    );
}

#[test]
fn mtime_changes_at_fsync() {
    let ns = Namespace::new("meta_mtime_fsync");
    let k = ns.key("k");
    let first = put_and_let_the_clock_tick(&k, b"v1");

    let mut writer = truncating_writer(&k);
    writer.write_all(b"v2").unwrap();
    writer.sync_all().unwrap();
    let synced = mtime(&k);
    assert!(
        synced > first,
        "mtime {synced:?} did not move on from {first:?} at fsync"
    );
}

#[test]
fn truncate_by_path_updates_the_size_and_mtime() {
    let ns = Namespace::new("meta_truncate");
    let k = ns.key("k");
    let first = put_and_let_the_clock_tick(&k, b"hello world");

    sh(&ns, "truncate -s 3 k").success();
    assert_eq!(size(&k), 3, "{}", ns.describe());
    let truncated = mtime(&k);
    assert!(
        truncated > first,
        "mtime {truncated:?} did not move on from {first:?}"
    );
}

#[test]
fn adding_and_removing_keys_updates_the_namespaces_mtime() {
    let ns = Namespace::new("meta_dir_mtime");
    let first = mtime(ns.path());
    let_the_clock_tick();

    fs::write(ns.key("k"), b"v").unwrap();
    let added = mtime(ns.path());
    assert!(added > first, "after a put: {added:?}, before: {first:?}");
    let_the_clock_tick();

    fs::remove_file(ns.key("k")).unwrap();
    let removed = mtime(ns.path());
    assert!(
        removed > added,
        "after a delete: {removed:?}, before: {added:?}"
    );
}

#[test]
fn the_stat_command_reports_size_and_type() {
    let ns = Namespace::new("meta_stat_cmd");
    sh(&ns, "printf hello > k && mkdir d").success();
    sh(&ns, "stat -c '%n %F' k d")
        .success()
        .stdout("k regular file\nd directory\n");
    sh(&ns, "stat -c %s k").success().stdout("5\n");
}

#[test]
fn the_mode_at_creation_honours_the_umask() {
    let ns = Namespace::new("meta_umask");
    sh(&ns, "umask 027 && echo v > k && mkdir d").success();
    assert_eq!(mode(&ns.key("k")), 0o640, "key under umask 027");
    assert_eq!(mode(&ns.key("d")), 0o750, "namespace under umask 027");

    sh(&ns, "umask 0 && echo v > k0 && mkdir d0").success();
    assert_eq!(mode(&ns.key("k0")), 0o666, "key under umask 0");
    assert_eq!(mode(&ns.key("d0")), 0o777, "namespace under umask 0");
}

#[test]
fn chmod_changes_the_mode() {
    let ns = Namespace::new("meta_chmod");
    let k = ns.key("k");
    fs::write(&k, b"v").unwrap();

    fs::set_permissions(&k, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(mode(&k), 0o600);
    sh(&ns, "chmod 4751 k && mkdir d && chmod 700 d").success();
    assert_eq!(mode(&k), 0o4751);
    assert_eq!(mode(&ns.key("d")), 0o700);
    assert_eq!(fs::read(&k).unwrap(), b"v", "chmod changed the value");
}

#[test]
fn chown_changes_the_owner_and_group() {
    let ns = Namespace::new("meta_chown");
    let k = ns.key("k");
    fs::write(&k, b"v").unwrap();

    std::os::unix::fs::chown(&k, Some(1234), Some(5678)).unwrap();
    let meta = fs::metadata(&k).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));

    sh(&ns, "chown 42:43 k && mkdir d && chown 7:8 d").success();
    let meta = fs::metadata(&k).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (42, 43));
    let meta = fs::metadata(ns.key("d")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (7, 8));
    assert_eq!(fs::read(&k).unwrap(), b"v", "chown changed the value");
}

#[test]
fn utimensat_sets_the_times() {
    let ns = Namespace::new("meta_utimensat");
    let k = ns.key("k");
    fs::write(&k, b"v").unwrap();

    let times = [
        libc::timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 123,
        },
        libc::timespec {
            tv_sec: 1_500_000_000,
            tv_nsec: 456_789,
        },
    ];
    let path = CString::new(k.as_os_str().as_bytes()).unwrap();
    // `times` holds the two timespecs that utimensat reads.
    // SAFETY: `path` is NUL-terminated; it and `times` outlive the call.
    let ret = unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) };
    assert_eq!(ret, 0, "utimensat: {}", std::io::Error::last_os_error());

    let meta = fs::metadata(&k).unwrap();
    assert_eq!(
        (meta.atime(), meta.atime_nsec()),
        (1_000_000_000, 123),
        "atime"
    );
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_500_000_000, 456_789),
        "mtime"
    );
    assert_eq!(fs::read(&k).unwrap(), b"v", "utimensat changed the value");
}

#[test]
fn touch_d_sets_the_mtime() {
    let ns = Namespace::new("meta_touch_d");
    sh(&ns, "echo v > k && touch -d '2001-02-03 04:05:06 UTC' k").success();
    assert_eq!(mtime(&ns.key("k")), (981_173_106, 0), "{}", ns.describe());
    sh(&ns, "stat -c %Y k").success().stdout("981173106\n");
    sh(&ns, "cat k").success().stdout("v\n");
}

#[test]
fn touch_creates_an_empty_key() {
    let ns = Namespace::new("meta_touch_new");
    sh(&ns, "touch k").success();
    assert_eq!(ns.tree(), ["k"]);
    assert_eq!(size(&ns.key("k")), 0, "{}", ns.describe());
}

#[test]
fn st_nlink_of_a_key_is_one() {
    let ns = Namespace::new("meta_nlink_key");
    fs::write(ns.key("k"), b"v").unwrap();
    assert_eq!(fs::metadata(ns.key("k")).unwrap().nlink(), 1);
}

#[test]
fn st_nlink_of_a_namespace_is_two_plus_its_subdirectories() {
    let ns = Namespace::new("meta_nlink_dir");
    let nlink = || fs::metadata(ns.path()).unwrap().nlink();
    assert_eq!(nlink(), 2, "empty\n{}", ns.describe());

    for name in ["a", "b", "c"] {
        fs::create_dir(ns.key(name)).unwrap();
    }
    fs::write(ns.key("k1"), b"v").unwrap();
    fs::write(ns.key("k2"), b"v").unwrap();
    assert_eq!(
        nlink(),
        5,
        "three namespaces and two keys\n{}",
        ns.describe()
    );

    fs::remove_dir(ns.key("c")).unwrap();
    assert_eq!(nlink(), 4, "after rmdir\n{}", ns.describe());

    fs::rename(ns.key("b"), ns.key("a/b")).unwrap();
    assert_eq!(
        nlink(),
        3,
        "after moving a namespace out\n{}",
        ns.describe()
    );
    assert_eq!(
        fs::metadata(ns.key("a")).unwrap().nlink(),
        3,
        "the namespace it moved into\n{}",
        ns.describe()
    );
}
