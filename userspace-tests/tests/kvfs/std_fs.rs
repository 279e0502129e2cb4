//! Put, get, list and delete through Rust's std::fs.

use crate::common::Namespace;
use std::fs;
use std::io::ErrorKind;

#[test]
fn write_then_read_gives_the_value_back() {
    let ns = Namespace::new("std_put_get");
    fs::write(ns.key("k"), b"value").unwrap();
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"value");
}

#[test]
fn a_large_value_comes_back_whole() {
    let ns = Namespace::new("std_large");
    let value: Vec<u8> = (0..3 << 20)
        .map(|i: u32| (i * 7 + i / 4096) as u8)
        .collect();
    fs::write(ns.key("big"), &value).unwrap();
    let back = fs::read(ns.key("big")).unwrap();
    assert_eq!(back.len(), value.len());
    assert!(back == value, "the 3 MiB value changed on the way");
    assert_eq!(
        fs::metadata(ns.key("big")).unwrap().len(),
        value.len() as u64
    );
}

#[test]
fn read_dir_lists_every_key() {
    let ns = Namespace::new("std_list");
    for key in ["a", "b", "c"] {
        fs::write(ns.key(key), key).unwrap();
    }
    assert_eq!(ns.tree(), ["a", "b", "c"]);
}

#[test]
fn remove_file_deletes_the_key() {
    let ns = Namespace::new("std_delete");
    fs::write(ns.key("k"), b"v").unwrap();
    fs::remove_file(ns.key("k")).unwrap();
    let err = fs::read(ns.key("k")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", ns.describe());
}

#[test]
fn an_empty_value_is_a_value() {
    let ns = Namespace::new("std_empty");
    fs::write(ns.key("k"), b"").unwrap();
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"");
    assert_eq!(ns.tree(), ["k"]);
}
