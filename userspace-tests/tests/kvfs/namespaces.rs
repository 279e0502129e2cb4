//! Namespaces and key names: directories of keys, the names kvfs accepts,
//! and values as arbitrary bytes at any offset.

use crate::common::{assert_errno, sh, Namespace};
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

#[test]
fn mkdir_creates_a_namespace_and_rmdir_removes_it() {
    let ns = Namespace::new("ns_mkdir");
    fs::create_dir(ns.key("users")).unwrap();
    assert!(ns.key("users").is_dir(), "{}", ns.describe());
    assert_eq!(ns.tree(), ["users/"]);

    fs::remove_dir(ns.key("users")).unwrap();
    assert_eq!(ns.tree(), Vec::<String>::new(), "{}", ns.describe());
}

#[test]
fn nested_namespaces_hold_their_own_keys() {
    let ns = Namespace::new("ns_nested");
    fs::create_dir_all(ns.key("a/b")).unwrap();
    fs::write(ns.key("k"), b"top").unwrap();
    fs::write(ns.key("a/k"), b"middle").unwrap();
    fs::write(ns.key("a/b/k"), b"bottom").unwrap();

    assert_eq!(ns.tree(), ["a/", "a/b/", "a/b/k", "a/k", "k"]);
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"top");
    assert_eq!(fs::read(ns.key("a/k")).unwrap(), b"middle");
    assert_eq!(fs::read(ns.key("a/b/k")).unwrap(), b"bottom");
}

#[test]
fn readdir_lists_every_key_of_a_tree() {
    let ns = Namespace::new("ns_readdir");
    let mut expected = Vec::new();
    for dir in ["x", "y"] {
        fs::create_dir(ns.key(dir)).unwrap();
        expected.push(format!("{dir}/"));
        for i in 0..20 {
            fs::write(ns.key(&format!("{dir}/key{i:02}")), i.to_string()).unwrap();
            expected.push(format!("{dir}/key{i:02}"));
        }
    }
    expected.sort();
    assert_eq!(ns.tree(), expected);
}

#[test]
fn readdir_lists_hundreds_of_keys() {
    let ns = Namespace::new("ns_many");
    let mut expected: Vec<String> = (0..600).map(|i| format!("key-{i:04}")).collect();
    for key in &expected {
        fs::write(ns.key(key), key).unwrap();
    }
    expected.sort();
    let tree = ns.tree();
    assert_eq!(tree.len(), expected.len(), "keys listed");
    assert_eq!(tree, expected);
}

#[test]
fn mkdir_p_creates_every_level() {
    let ns = Namespace::new("ns_mkdir_p");
    sh(&ns, "mkdir -p a/b/c && echo v > a/b/c/k").success();
    assert_eq!(ns.tree(), ["a/", "a/b/", "a/b/c/", "a/b/c/k"]);
    sh(&ns, "mkdir -p a/b/c").success();
    sh(&ns, "cat a/b/c/k").success().stdout("v\n");
}

#[test]
fn ls_shows_keys_and_namespaces() {
    let ns = Namespace::new("ns_ls");
    sh(&ns, "mkdir sub && echo 1 > one && echo 2 > sub/two").success();
    sh(&ns, "ls -F").success().stdout("one\nsub/\n");
    sh(&ns, "ls sub").success().stdout("two\n");
}

#[test]
fn a_key_in_a_missing_namespace_fails_with_enoent() {
    let ns = Namespace::new("ns_missing");
    assert_errno(
        fs::write(ns.key("nowhere/k"), b"v"),
        libc::ENOENT,
        ns.describe(),
    );
}

#[test]
fn a_name_of_255_bytes_works() {
    let ns = Namespace::new("ns_name_255");
    let name = "k".repeat(255);
    fs::write(ns.key(&name), b"long").unwrap();
    assert_eq!(fs::read(ns.key(&name)).unwrap(), b"long");
    assert_eq!(ns.tree(), [name.clone()]);

    let dir = "d".repeat(255);
    fs::create_dir(ns.key(&dir)).unwrap();
    assert!(ns.key(&dir).is_dir(), "{}", ns.describe());
}

#[test]
fn a_name_of_256_bytes_fails_with_enametoolong() {
    let ns = Namespace::new("ns_name_256");
    let name = "k".repeat(256);
    assert_errno(
        fs::write(ns.key(&name), b"v"),
        libc::ENAMETOOLONG,
        format!("put\n{}", ns.describe()),
    );
    assert_errno(
        fs::create_dir(ns.key(&name)),
        libc::ENAMETOOLONG,
        format!("mkdir\n{}", ns.describe()),
    );
    assert_eq!(ns.tree(), Vec::<String>::new());
}

#[test]
fn names_with_spaces_and_newlines_work() {
    let ns = Namespace::new("ns_odd_names");
    let names = ["with space", "with\nnewline", "tab\there", " leading"];
    for name in names {
        fs::write(ns.key(name), name).unwrap();
    }
    for name in names {
        assert_eq!(fs::read(ns.key(name)).unwrap(), name.as_bytes(), "{name:?}");
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(ns.tree(), expected);
}

#[test]
fn a_name_that_is_not_utf8_works() {
    let ns = Namespace::new("ns_bytes_name");
    let name = OsStr::from_bytes(b"caf\xe9-\xff\x01");
    let path = ns.path().join(name);
    fs::write(&path, b"bytes").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"bytes");

    let listed: Vec<Vec<u8>> = fs::read_dir(ns.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().as_bytes().to_vec())
        .collect();
    assert_eq!(listed, [name.as_bytes().to_vec()], "{}", ns.describe());

    fs::remove_file(&path).unwrap();
    assert_eq!(ns.tree(), Vec::<String>::new());
}

#[test]
fn a_name_starting_with_a_dash_works() {
    let ns = Namespace::new("ns_dash");
    sh(&ns, "echo v > -k && mkdir -- -d").success();
    sh(&ns, "cat -- -k").success().stdout("v\n");
    assert_eq!(ns.tree(), ["-d/", "-k"]);
    sh(&ns, "rm -- -k && rmdir -- -d").success();
    assert_eq!(ns.tree(), Vec::<String>::new());
}

#[test]
fn a_value_holds_every_byte() {
    let ns = Namespace::new("ns_all_bytes");
    let value: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    fs::write(ns.key("k"), &value).unwrap();
    assert_eq!(fs::read(ns.key("k")).unwrap(), value, "{}", ns.describe());
}

#[test]
fn pwrite_at_an_offset_edits_the_value_there() {
    let ns = Namespace::new("ns_pwrite");
    fs::write(ns.key("k"), b"0123456789").unwrap();
    let file = OpenOptions::new().write(true).open(ns.key("k")).unwrap();
    file.write_all_at(b"abc", 4).unwrap();
    drop(file);
    assert_eq!(
        fs::read(ns.key("k")).unwrap(),
        b"0123abc789",
        "{}",
        ns.describe()
    );
}

#[test]
fn pread_at_an_offset_reads_from_there() {
    let ns = Namespace::new("ns_pread");
    fs::write(ns.key("k"), b"0123456789").unwrap();
    let file = fs::File::open(ns.key("k")).unwrap();
    let mut buf = [0u8; 4];
    file.read_exact_at(&mut buf, 3).unwrap();
    assert_eq!(&buf, b"3456");

    let mut tail = [0u8; 8];
    let n = file.read_at(&mut tail, 7).unwrap();
    assert_eq!(&tail[..n], b"789", "a read across the end stops there");
    assert_eq!(file.read_at(&mut tail, 10).unwrap(), 0, "at the end");
    assert_eq!(file.read_at(&mut tail, 100).unwrap(), 0, "past the end");
}

#[test]
fn writing_past_the_end_leaves_a_zero_filled_hole() {
    let ns = Namespace::new("ns_hole");
    fs::write(ns.key("k"), b"ab").unwrap();
    let file = OpenOptions::new().write(true).open(ns.key("k")).unwrap();
    file.write_all_at(b"z", 10_000).unwrap();
    drop(file);

    let value = fs::read(ns.key("k")).unwrap();
    assert_eq!(value.len(), 10_001, "{}", ns.describe());
    assert_eq!(&value[..2], b"ab");
    assert!(
        value[2..10_000].iter().all(|&b| b == 0),
        "the hole is not all zeros: first non-zero at {:?}",
        value[2..10_000].iter().position(|&b| b != 0).map(|i| i + 2)
    );
    assert_eq!(value[10_000], b'z');
}
