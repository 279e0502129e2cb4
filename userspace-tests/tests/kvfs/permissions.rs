//! What an unprivileged user (nobody, uid and gid 65534) may do: its own keys
//! in a 1777 root, none of root's private or sticky-protected keys, the same
//! limits as root, and nothing in a mode=755 root.

use crate::common::Mount;
use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const NOBODY: u32 = 65534;

/// Runs `script` with sh in `dir` as nobody, with no supplementary groups
/// and no capabilities.
fn as_nobody(dir: &Path, script: &str) -> assert_cmd::assert::Assert {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["sh", "-c", script])
        .current_dir(dir)
        .assert()
}

/// A key of root's with `value` and permission bits `mode`.
fn root_key(mount: &Mount, key: &str, value: &[u8], mode: u32) {
    fs::write(mount.key(key), value).unwrap();
    fs::set_permissions(mount.key(key), fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn nobody_puts_and_gets_its_own_keys_in_the_default_root() {
    let mount = Mount::new("");
    as_nobody(
        mount.path(),
        "echo mine > k && cat k && mkdir ns && echo v > ns/k",
    )
    .success()
    .stdout("mine\n");
    let meta = fs::metadata(mount.key("k")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (NOBODY, NOBODY),
        "owner of nobody's key"
    );
}

#[test]
fn nobody_puts_keys_in_a_private_root_it_owns() {
    let mount = Mount::new("mode=700,uid=65534,gid=65534");
    as_nobody(mount.path(), "echo mine > k && cat k")
        .success()
        .stdout("mine\n");
}

#[test]
fn nobody_cannot_get_a_private_key_of_root() {
    let mount = Mount::new("");
    root_key(&mount, "secret", b"secret\n", 0o600);
    as_nobody(mount.path(), "cat secret")
        .failure()
        .stdout("")
        .stderr(contains("Permission denied"));
}

#[test]
fn nobody_cannot_put_to_a_key_of_root() {
    let mount = Mount::new("");
    root_key(&mount, "k", b"root's\n", 0o644);
    as_nobody(mount.path(), "echo changed > k")
        .failure()
        .stderr(contains("Permission denied"));
    as_nobody(mount.path(), "echo more >> k")
        .failure()
        .stderr(contains("Permission denied"));
    assert_eq!(fs::read(mount.key("k")).unwrap(), b"root's\n");
}

#[test]
fn nobody_cannot_delete_a_key_of_root_in_a_sticky_directory() {
    let mount = Mount::new("");
    root_key(&mount, "k", b"root's\n", 0o666);
    as_nobody(mount.path(), "rm -f k")
        .failure()
        .stderr(contains("Operation not permitted").or(contains("Permission denied")));
    assert_eq!(fs::read(mount.key("k")).unwrap(), b"root's\n");
}

#[test]
fn nobody_cannot_rename_a_key_of_root_in_a_sticky_directory() {
    let mount = Mount::new("");
    root_key(&mount, "k", b"root's\n", 0o666);
    as_nobody(mount.path(), "mv k moved")
        .failure()
        .stderr(contains("Operation not permitted").or(contains("Permission denied")));
    assert!(!mount.key("moved").exists(), "{}", mount.describe());
    assert_eq!(fs::read(mount.key("k")).unwrap(), b"root's\n");
}

#[test]
fn nobody_cannot_chmod_a_key_of_root() {
    let mount = Mount::new("");
    root_key(&mount, "k", b"root's\n", 0o644);
    as_nobody(mount.path(), "chmod 666 k")
        .failure()
        .stderr(contains("Operation not permitted"));
    let mode = fs::metadata(mount.key("k")).unwrap().mode();
    assert_eq!(mode & 0o7777, 0o644);
}

#[test]
fn nobody_cannot_chown_a_key_of_root() {
    let mount = Mount::new("");
    root_key(&mount, "k", b"root's\n", 0o666);
    as_nobody(mount.path(), "chown 65534:65534 k")
        .failure()
        .stderr(contains("Operation not permitted"));
    let meta = fs::metadata(mount.key("k")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
}

#[test]
fn nobody_is_held_to_max_keys() {
    let mount = Mount::new("max_keys=2");
    as_nobody(mount.path(), "echo 1 > a && echo 2 > b").success();
    as_nobody(mount.path(), "echo 3 > c")
        .failure()
        .stderr(contains("No space left on device"));
    as_nobody(mount.path(), "mkdir ns")
        .failure()
        .stderr(contains("No space left on device"));
    assert_eq!(fs::read(mount.key("b")).unwrap(), b"2\n");
}

#[test]
fn nobody_is_held_to_max_bytes() {
    let mount = Mount::new("max_bytes=8k,max_value=8k");
    as_nobody(
        mount.path(),
        "dd if=/dev/zero of=a bs=8192 count=1 status=none",
    )
    .success();
    as_nobody(
        mount.path(),
        "dd if=/dev/zero of=b bs=1 count=1 status=none",
    )
    .failure()
    .stderr(contains("No space left on device"));
    assert_eq!(fs::metadata(mount.key("a")).unwrap().len(), 8192);
    assert_eq!(fs::metadata(mount.key("b")).unwrap().len(), 0);
}

#[test]
fn nobody_cannot_create_keys_in_a_mode_755_root() {
    let mount = Mount::new("mode=755");
    as_nobody(mount.path(), "echo v > k")
        .failure()
        .stderr(contains("Permission denied"));
    as_nobody(mount.path(), "mkdir ns")
        .failure()
        .stderr(contains("Permission denied"));
    assert!(
        fs::read_dir(mount.path()).unwrap().next().is_none(),
        "{}",
        mount.describe()
    );
}
