//! Delete: unlink removes a key and rmdir an empty namespace; descriptors
//! already open keep the version they opened.

use crate::common::Namespace;
use assert_cmd::Command;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

/// Runs `script` with sh in the namespace's directory.
fn sh(ns: &Namespace, script: &str) -> assert_cmd::assert::Assert {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(ns.path())
        .assert()
}

#[test]
fn unlink_removes_the_key() {
    let ns = Namespace::new("del_unlink");
    let k = ns.key("k");
    fs::write(&k, b"v").unwrap();
    fs::write(ns.key("other"), b"stays").unwrap();

    fs::remove_file(&k).unwrap();
    let err = fs::metadata(&k).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOENT),
        "stat: {err}\n{}",
        ns.describe()
    );
    let err = File::open(&k).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "open: {err}");
    assert_eq!(ns.tree(), ["other"]);
    assert_eq!(fs::read(ns.key("other")).unwrap(), b"stays");
}

#[test]
fn rm_removes_keys_from_the_shell() {
    let ns = Namespace::new("del_rm");
    sh(&ns, "echo 1 > a; echo 2 > b; echo 3 > c").success();
    sh(&ns, "rm a c && ls").success().stdout("b\n");
    sh(&ns, "rm a")
        .failure()
        .stderr(predicates::str::contains("No such file or directory"));
}

#[test]
fn unlink_of_a_missing_key_fails_with_enoent() {
    let ns = Namespace::new("del_missing");
    let err = fs::remove_file(ns.key("never")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOENT),
        "{err}\n{}",
        ns.describe()
    );
}

#[test]
fn a_reader_open_before_unlink_still_reads_the_value() {
    let ns = Namespace::new("del_open_reader");
    let k = ns.key("k");
    fs::write(&k, b"still here").unwrap();

    let mut reader = File::open(&k).unwrap();
    fs::remove_file(&k).unwrap();
    assert_eq!(ns.tree(), Vec::<String>::new(), "after unlink");

    assert_eq!(reader.metadata().unwrap().len(), 10, "fstat after unlink");
    let mut buf = [0u8; 4];
    reader.read_exact_at(&mut buf, 6).unwrap();
    assert_eq!(&buf, b"here", "pread after unlink");
    let mut value = Vec::new();
    reader.read_to_end(&mut value).unwrap();
    assert_eq!(value, b"still here", "read after unlink");
}

#[test]
fn a_reader_of_a_deleted_key_keeps_its_version_when_the_name_is_put_again() {
    let ns = Namespace::new("del_reput");
    let k = ns.key("k");
    fs::write(&k, b"first").unwrap();

    let mut reader = File::open(&k).unwrap();
    fs::remove_file(&k).unwrap();
    fs::write(&k, b"second").unwrap();

    let mut value = Vec::new();
    reader.read_to_end(&mut value).unwrap();
    assert_eq!(value, b"first", "the reader of the deleted key");
    assert_eq!(fs::read(&k).unwrap(), b"second", "{}", ns.describe());
}

#[test]
fn a_writer_open_at_unlink_does_not_bring_the_key_back() {
    let ns = Namespace::new("del_open_writer");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = OpenOptions::new()
        .read(true)
        .write(true)
        .truncate(true)
        .open(&k)
        .unwrap();
    writer.write_all(b"pending").unwrap();
    fs::remove_file(&k).unwrap();
    writer.write_all(b" more").unwrap();
    let mut buf = [0u8; 32];
    let n = writer.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"pending more", "the writer reads its own bytes");
    drop(writer);

    assert_eq!(ns.tree(), Vec::<String>::new(), "after the writer closed");
}

#[test]
fn rmdir_of_an_empty_namespace_works() {
    let ns = Namespace::new("del_rmdir_empty");
    fs::create_dir(ns.key("d")).unwrap();
    fs::write(ns.key("d/k"), b"v").unwrap();
    fs::remove_file(ns.key("d/k")).unwrap();

    fs::remove_dir(ns.key("d")).unwrap();
    assert_eq!(ns.tree(), Vec::<String>::new(), "{}", ns.describe());
    sh(&ns, "mkdir e && rmdir e && ls").success().stdout("");
}

#[test]
fn rmdir_of_a_namespace_with_a_key_fails_with_enotempty() {
    let ns = Namespace::new("del_rmdir_key");
    fs::create_dir(ns.key("d")).unwrap();
    fs::write(ns.key("d/k"), b"v").unwrap();

    let err = fs::remove_dir(ns.key("d")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTEMPTY),
        "{err}\n{}",
        ns.describe()
    );
    assert_eq!(ns.tree(), ["d/", "d/k"]);
    assert_eq!(fs::read(ns.key("d/k")).unwrap(), b"v");
    sh(&ns, "rmdir d")
        .failure()
        .stderr(predicates::str::contains("Directory not empty"));
}

#[test]
fn rmdir_of_a_namespace_with_a_namespace_fails_with_enotempty() {
    let ns = Namespace::new("del_rmdir_sub");
    fs::create_dir_all(ns.key("d/sub")).unwrap();

    let err = fs::remove_dir(ns.key("d")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTEMPTY),
        "{err}\n{}",
        ns.describe()
    );
    assert_eq!(ns.tree(), ["d/", "d/sub/"]);
}

#[test]
fn rm_r_removes_a_namespace_and_everything_in_it() {
    let ns = Namespace::new("del_rm_r");
    sh(
        &ns,
        "mkdir -p a/b/c && echo 1 > a/k && echo 2 > a/b/c/k && echo 3 > keep",
    )
    .success();
    sh(&ns, "rm -r a").success();
    assert_eq!(ns.tree(), ["keep"], "{}", ns.describe());
}

#[test]
fn unlink_and_rmdir_refuse_the_wrong_kind() {
    let ns = Namespace::new("del_wrong_kind");
    fs::create_dir(ns.key("d")).unwrap();
    fs::write(ns.key("k"), b"v").unwrap();

    let err = fs::remove_file(ns.key("d")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EISDIR),
        "unlink of a namespace: {err}"
    );
    let err = fs::remove_dir(ns.key("k")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTDIR),
        "rmdir of a key: {err}"
    );
    assert_eq!(ns.tree(), ["d/", "k"]);
}
