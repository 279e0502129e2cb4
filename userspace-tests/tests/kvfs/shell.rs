//! Put, get, list and delete from the shell: echo, printf, cat, ls and rm.

use crate::common::{sh, Namespace};

#[test]
fn echo_puts_and_cat_gets() {
    let ns = Namespace::new("echo_cat");
    sh(&ns, "echo hello > greeting").success();
    sh(&ns, "cat greeting").success().stdout("hello\n");
}

#[test]
fn printf_puts_bytes_exactly() {
    let ns = Namespace::new("printf");
    sh(&ns, r"printf 'a\000b\377' > bytes").success();
    let value = std::fs::read(ns.key("bytes")).unwrap();
    assert_eq!(value, b"a\0b\xff", "{}", ns.describe());
}

#[test]
fn ls_lists_keys() {
    let ns = Namespace::new("ls");
    sh(&ns, "echo 1 > one; echo 2 > two; echo 3 > three").success();
    sh(&ns, "ls").success().stdout("one\nthree\ntwo\n");
}

#[test]
fn rm_deletes_a_key() {
    let ns = Namespace::new("rm");
    sh(&ns, "echo v > k").success();
    sh(&ns, "rm k").success();
    sh(&ns, "ls").success().stdout("");
    sh(&ns, "cat k")
        .failure()
        .stderr(predicates::str::contains("No such file or directory"));
}

#[test]
fn a_second_put_replaces_the_value() {
    let ns = Namespace::new("replace");
    sh(&ns, "echo first > k; echo second > k").success();
    sh(&ns, "cat k").success().stdout("second\n");
}

#[test]
fn shell_append_adds_to_the_value() {
    let ns = Namespace::new("append");
    sh(&ns, "echo a > k; echo b >> k").success();
    sh(&ns, "cat k").success().stdout("a\nb\n");
}
