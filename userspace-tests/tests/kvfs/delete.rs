//! Delete: unlink removes a key and rmdir an empty namespace; descriptors
//! already open keep the version they opened.

use crate::common::{assert_errno, rest_of, sh, truncating_read_writer, Namespace};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;

#[test]
fn unlink_removes_the_key() {
    let ns = Namespace::new("del_unlink");
    let k = ns.key("k");
    fs::write(&k, b"v").unwrap();
    fs::write(ns.key("other"), b"stays").unwrap();

    fs::remove_file(&k).unwrap();
    assert_errno(
        fs::metadata(&k),
        libc::ENOENT,
        format!("stat\n{}", ns.describe()),
    );
    assert_errno(File::open(&k), libc::ENOENT, "open");
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
    assert_errno(
        fs::remove_file(ns.key("never")),
        libc::ENOENT,
        ns.describe(),
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
    assert_eq!(rest_of(&mut reader), b"still here", "read after unlink");
}

#[test]
fn a_reader_of_a_deleted_key_keeps_its_version_when_the_name_is_put_again() {
    let ns = Namespace::new("del_reput");
    let k = ns.key("k");
    fs::write(&k, b"first").unwrap();

    let mut reader = File::open(&k).unwrap();
    fs::remove_file(&k).unwrap();
    fs::write(&k, b"second").unwrap();

    assert_eq!(
        rest_of(&mut reader),
        b"first",
        "the reader of the deleted key"
    );
    ns.assert_value("k", b"second", "after the put of the name again");
}

#[test]
fn a_writer_open_at_unlink_does_not_bring_the_key_back() {
    let ns = Namespace::new("del_open_writer");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_read_writer(&k);
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

    assert_errno(fs::remove_dir(ns.key("d")), libc::ENOTEMPTY, ns.describe());
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

    assert_errno(fs::remove_dir(ns.key("d")), libc::ENOTEMPTY, ns.describe());
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

    assert_errno(
        fs::remove_file(ns.key("d")),
        libc::EISDIR,
        "unlink of a namespace",
    );
    assert_errno(fs::remove_dir(ns.key("k")), libc::ENOTDIR, "rmdir of a key");
    assert_eq!(ns.tree(), ["d/", "k"]);
}
