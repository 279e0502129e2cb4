//! Rename: mv, rename(2) and renameat2(2) move keys and namespaces
//! atomically, replace or refuse an existing target, and exchange two names.

use crate::common::{
    assert_errno, assert_reads_see_whole_values, sh, truncating_writer, Namespace,
};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread;

/// Calls renameat2(2) with `flags` on two absolute paths.
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let from = CString::new(from.as_os_str().as_bytes()).unwrap();
    let to = CString::new(to.as_os_str().as_bytes()).unwrap();
    // renameat2 reads nothing else from this process's memory.
    // SAFETY: Both paths are NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of the key at `path` as text, for readable assertions.
fn text(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"));
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn rename_moves_a_key() {
    let ns = Namespace::new("ren_key");
    fs::write(ns.key("a"), b"value").unwrap();

    fs::rename(ns.key("a"), ns.key("b")).unwrap();
    assert_eq!(ns.tree(), ["b"], "{}", ns.describe());
    assert_eq!(text(&ns.key("b")), "value");
}

#[test]
fn mv_moves_a_key_from_the_shell() {
    let ns = Namespace::new("ren_mv");
    sh(&ns, "echo v > a && mv a b && ls && cat b")
        .success()
        .stdout("b\nv\n");
}

#[test]
fn mv_moves_a_key_into_a_namespace() {
    let ns = Namespace::new("ren_mv_into");
    sh(&ns, "mkdir d && echo v > k && mv k d/").success();
    assert_eq!(ns.tree(), ["d/", "d/k"], "{}", ns.describe());
    assert_eq!(text(&ns.key("d/k")), "v\n");
}

#[test]
fn rename_moves_a_key_across_namespaces() {
    let ns = Namespace::new("ren_across");
    fs::create_dir(ns.key("from")).unwrap();
    fs::create_dir(ns.key("to")).unwrap();
    fs::write(ns.key("from/k"), b"travels").unwrap();

    fs::rename(ns.key("from/k"), ns.key("to/renamed")).unwrap();
    assert_eq!(
        ns.tree(),
        ["from/", "to/", "to/renamed"],
        "{}",
        ns.describe()
    );
    assert_eq!(text(&ns.key("to/renamed")), "travels");
}

#[test]
fn rename_over_an_existing_key_replaces_its_value() {
    let ns = Namespace::new("ren_replace");
    fs::write(ns.key("new"), b"new value").unwrap();
    fs::write(ns.key("target"), b"old value").unwrap();

    fs::rename(ns.key("new"), ns.key("target")).unwrap();
    assert_eq!(ns.tree(), ["target"], "{}", ns.describe());
    assert_eq!(text(&ns.key("target")), "new value");
}

#[test]
fn a_reader_of_the_replaced_target_keeps_the_old_version() {
    let ns = Namespace::new("ren_replace_reader");
    fs::write(ns.key("new"), b"new value").unwrap();
    fs::write(ns.key("target"), b"old value").unwrap();

    let mut reader = File::open(ns.key("target")).unwrap();
    fs::rename(ns.key("new"), ns.key("target")).unwrap();

    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert_eq!(seen, "old value", "the reader opened before the rename");
    assert_eq!(text(&ns.key("target")), "new value", "{}", ns.describe());
}

#[test]
fn a_reader_of_the_moved_key_keeps_reading_it() {
    let ns = Namespace::new("ren_moved_reader");
    fs::write(ns.key("a"), b"moving").unwrap();

    let mut reader = File::open(ns.key("a")).unwrap();
    fs::rename(ns.key("a"), ns.key("b")).unwrap();
    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert_eq!(seen, "moving");
}

#[test]
fn a_writer_of_the_replaced_target_does_not_overwrite_the_new_value() {
    let ns = Namespace::new("ren_replace_writer");
    fs::write(ns.key("new"), b"renamed in").unwrap();
    fs::write(ns.key("target"), b"old").unwrap();

    let mut writer = truncating_writer(&ns.key("target"));
    writer.write_all(b"written to the old key").unwrap();
    fs::rename(ns.key("new"), ns.key("target")).unwrap();
    drop(writer);

    assert_eq!(ns.tree(), ["target"], "{}", ns.describe());
    assert_eq!(text(&ns.key("target")), "renamed in");
}

#[test]
fn a_writer_of_a_moved_key_commits_under_the_new_name() {
    let ns = Namespace::new("ren_moved_writer");
    fs::write(ns.key("a"), b"old").unwrap();

    let mut writer = truncating_writer(&ns.key("a"));
    writer.write_all(b"new").unwrap();
    fs::rename(ns.key("a"), ns.key("b")).unwrap();
    assert_eq!(text(&ns.key("b")), "old", "before the writer closed");
    drop(writer);

    assert_eq!(ns.tree(), ["b"], "{}", ns.describe());
    assert_eq!(text(&ns.key("b")), "new");
}

#[test]
fn readers_of_a_target_replaced_by_rename_always_find_a_whole_value() {
    const LEN: usize = 4096;
    const RENAMES: usize = 200;
    let ns = Namespace::new("ren_atomic");
    let target = ns.key("target");
    fs::write(&target, vec![b'0'; LEN]).unwrap();

    thread::scope(|scope| {
        let ns = &ns;
        let renamer = scope.spawn(move || {
            for i in 0..RENAMES {
                let tmp = ns.key("tmp");
                fs::write(&tmp, vec![b'0' + (i % 10) as u8; LEN]).unwrap();
                fs::rename(&tmp, ns.key("target")).unwrap();
            }
        });
        assert_reads_see_whole_values(&target, LEN, || renamer.is_finished(), ns);
    });
}

#[test]
fn rename_noreplace_fails_with_eexist_when_the_target_exists() {
    let ns = Namespace::new("ren_noreplace");
    fs::write(ns.key("a"), b"a value").unwrap();
    fs::write(ns.key("b"), b"b value").unwrap();

    assert_errno(
        renameat2(&ns.key("a"), &ns.key("b"), libc::RENAME_NOREPLACE),
        libc::EEXIST,
        ns.describe(),
    );
    assert_eq!(ns.tree(), ["a", "b"]);
    assert_eq!(text(&ns.key("a")), "a value");
    assert_eq!(text(&ns.key("b")), "b value");
}

#[test]
fn rename_noreplace_moves_a_key_to_a_free_name() {
    let ns = Namespace::new("ren_noreplace_free");
    fs::write(ns.key("a"), b"a value").unwrap();

    renameat2(&ns.key("a"), &ns.key("b"), libc::RENAME_NOREPLACE).unwrap();
    assert_eq!(ns.tree(), ["b"], "{}", ns.describe());
    assert_eq!(text(&ns.key("b")), "a value");
}

#[test]
fn rename_exchange_swaps_two_keys() {
    let ns = Namespace::new("ren_exchange");
    fs::write(ns.key("a"), b"a value").unwrap();
    fs::write(ns.key("b"), b"b value").unwrap();

    renameat2(&ns.key("a"), &ns.key("b"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(ns.tree(), ["a", "b"], "{}", ns.describe());
    assert_eq!(text(&ns.key("a")), "b value");
    assert_eq!(text(&ns.key("b")), "a value");
}

#[test]
fn rename_exchange_swaps_a_key_and_a_namespace() {
    let ns = Namespace::new("ren_exchange_dir");
    fs::write(ns.key("k"), b"key value").unwrap();
    fs::create_dir(ns.key("d")).unwrap();
    fs::write(ns.key("d/inner"), b"inner value").unwrap();

    renameat2(&ns.key("k"), &ns.key("d"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(ns.tree(), ["d", "k/", "k/inner"], "{}", ns.describe());
    assert_eq!(text(&ns.key("d")), "key value");
    assert_eq!(text(&ns.key("k/inner")), "inner value");
}

#[test]
fn rename_exchange_swaps_keys_across_namespaces() {
    let ns = Namespace::new("ren_exchange_across");
    fs::create_dir(ns.key("x")).unwrap();
    fs::create_dir(ns.key("y")).unwrap();
    fs::write(ns.key("x/a"), b"from x").unwrap();
    fs::write(ns.key("y/b"), b"from y").unwrap();

    renameat2(&ns.key("x/a"), &ns.key("y/b"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(ns.tree(), ["x/", "x/a", "y/", "y/b"], "{}", ns.describe());
    assert_eq!(text(&ns.key("x/a")), "from y");
    assert_eq!(text(&ns.key("y/b")), "from x");
}

#[test]
fn rename_exchange_with_a_missing_name_fails_with_enoent() {
    let ns = Namespace::new("ren_exchange_missing");
    fs::write(ns.key("a"), b"a value").unwrap();

    assert_errno(
        renameat2(&ns.key("a"), &ns.key("b"), libc::RENAME_EXCHANGE),
        libc::ENOENT,
        ns.describe(),
    );
    assert_eq!(ns.tree(), ["a"]);
}

#[test]
fn renaming_a_namespace_moves_its_keys() {
    let ns = Namespace::new("ren_namespace");
    fs::create_dir_all(ns.key("old/sub")).unwrap();
    fs::write(ns.key("old/k"), b"top").unwrap();
    fs::write(ns.key("old/sub/k"), b"nested").unwrap();

    fs::rename(ns.key("old"), ns.key("new")).unwrap();
    assert_eq!(
        ns.tree(),
        ["new/", "new/k", "new/sub/", "new/sub/k"],
        "{}",
        ns.describe()
    );
    assert_eq!(text(&ns.key("new/k")), "top");
    assert_eq!(text(&ns.key("new/sub/k")), "nested");
    sh(&ns, "mv new/sub moved && ls moved")
        .success()
        .stdout("k\n");
}

#[test]
fn renaming_a_namespace_over_a_non_empty_one_fails_with_enotempty() {
    let ns = Namespace::new("ren_ns_notempty");
    fs::create_dir(ns.key("a")).unwrap();
    fs::create_dir(ns.key("b")).unwrap();
    fs::write(ns.key("b/k"), b"v").unwrap();

    assert_errno(
        fs::rename(ns.key("a"), ns.key("b")),
        libc::ENOTEMPTY,
        ns.describe(),
    );
    assert_eq!(ns.tree(), ["a/", "b/", "b/k"]);

    fs::remove_file(ns.key("b/k")).unwrap();
    fs::rename(ns.key("a"), ns.key("b")).unwrap();
    assert_eq!(ns.tree(), ["b/"], "over an empty namespace");
}

#[test]
fn rename_refuses_to_mix_keys_and_namespaces() {
    let ns = Namespace::new("ren_kinds");
    fs::write(ns.key("k"), b"v").unwrap();
    fs::create_dir(ns.key("d")).unwrap();

    assert_errno(
        fs::rename(ns.key("k"), ns.key("d")),
        libc::EISDIR,
        "key over namespace",
    );
    assert_errno(
        fs::rename(ns.key("d"), ns.key("k")),
        libc::ENOTDIR,
        "namespace over key",
    );
    assert_errno(
        fs::rename(ns.key("d"), ns.key("d/inside")),
        libc::EINVAL,
        "namespace into itself",
    );
    assert_eq!(ns.tree(), ["d/", "k"], "{}", ns.describe());
}
