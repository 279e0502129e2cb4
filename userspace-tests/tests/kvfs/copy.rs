//! Copies in the kernel and through pipes: cp, cat, sendfile(2),
//! copy_file_range(2) and splice(2), between keys and to and from /tmp.

use crate::common::{close, Namespace};
use assert_cmd::Command;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A value of `len` bytes in which no page repeats another, so that a
/// misplaced chunk shows.
fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 4093) as u8).collect()
}

/// Longer than a pipe's default 64 KiB and not a whole number of pages.
const LEN: usize = 300_001;

/// Asserts that `path` holds exactly `expected`.
#[track_caller]
fn assert_holds(path: &Path, expected: &[u8], ns: &Namespace) {
    let got = fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"));
    if got != expected {
        let first = got.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{path:?} holds {} bytes, expected {}; first difference at {first:?}\n{}",
            got.len(),
            expected.len(),
            ns.describe()
        );
    }
}

/// Repeats `call` (a system call returning a byte count) until it has moved
/// `len` bytes or returns 0.
fn repeat(len: usize, mut call: impl FnMut(usize) -> isize) -> io::Result<usize> {
    let mut moved = 0;
    while moved < len {
        match call(len - moved) {
            n if n < 0 => return Err(io::Error::last_os_error()),
            0 => break,
            n => moved += n as usize,
        }
    }
    Ok(moved)
}

/// A new pipe: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is valid for writes of two descriptors.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: pipe2 just opened both descriptors; nothing else owns them.
    unsafe {
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

#[test]
fn cp_copies_a_key_to_another_key() {
    let ns = Namespace::new("cp_key_key");
    let value = value(LEN);
    fs::write(ns.key("src"), &value).unwrap();
    Command::new("cp")
        .args(["src", "dst"])
        .current_dir(ns.path())
        .assert()
        .success();
    assert_holds(&ns.key("dst"), &value, &ns);
    assert_holds(&ns.key("src"), &value, &ns);
}

#[test]
fn cp_copies_a_file_from_tmp_into_a_key() {
    let ns = Namespace::new("cp_tmp_key");
    let value = value(LEN);
    let tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    fs::write(tmp.path(), &value).unwrap();
    Command::new("cp")
        .arg(tmp.path())
        .arg(ns.key("k"))
        .assert()
        .success();
    assert_holds(&ns.key("k"), &value, &ns);
}

#[test]
fn cp_copies_a_key_into_a_file_in_tmp() {
    let ns = Namespace::new("cp_key_tmp");
    let value = value(LEN);
    fs::write(ns.key("k"), &value).unwrap();
    let tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    Command::new("cp")
        .arg(ns.key("k"))
        .arg(tmp.path())
        .assert()
        .success();
    assert_holds(tmp.path(), &value, &ns);
}

#[test]
fn cat_through_a_pipe_copies_a_key() {
    let ns = Namespace::new("cat_pipe");
    let value = value(LEN);
    fs::write(ns.key("src"), &value).unwrap();
    Command::new("sh")
        .args(["-c", "cat src | cat > dst"])
        .current_dir(ns.path())
        .assert()
        .success();
    assert_holds(&ns.key("dst"), &value, &ns);
}

#[test]
fn sendfile_copies_a_key_into_a_file_in_tmp() {
    let ns = Namespace::new("sendfile_out");
    let value = value(LEN);
    fs::write(ns.key("k"), &value).unwrap();
    let tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    let src = File::open(ns.key("k")).unwrap();
    let moved = repeat(LEN, |n| {
        // SAFETY: Both descriptors are open; a NULL offset uses the file's.
        unsafe {
            libc::sendfile(
                tmp.as_file().as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                n,
            )
        }
    });
    assert_eq!(moved.unwrap(), LEN, "bytes sendfile moved");
    assert_holds(tmp.path(), &value, &ns);
}

#[test]
fn sendfile_copies_a_file_in_tmp_into_a_key() {
    let ns = Namespace::new("sendfile_in");
    let value = value(LEN);
    let tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    fs::write(tmp.path(), &value).unwrap();
    let src = File::open(tmp.path()).unwrap();
    let dst = File::create(ns.key("k")).unwrap();
    let moved = repeat(LEN, |n| {
        // SAFETY: Both descriptors are open; a NULL offset uses the file's.
        unsafe { libc::sendfile(dst.as_raw_fd(), src.as_raw_fd(), std::ptr::null_mut(), n) }
    });
    assert_eq!(moved.unwrap(), LEN, "bytes sendfile moved");
    close(dst).unwrap();
    assert_holds(&ns.key("k"), &value, &ns);
}

#[test]
fn copy_file_range_copies_a_key_to_another_key() {
    let ns = Namespace::new("copy_file_range");
    let value = value(LEN);
    fs::write(ns.key("src"), &value).unwrap();
    let src = File::open(ns.key("src")).unwrap();
    let dst = File::create(ns.key("dst")).unwrap();
    let moved = repeat(LEN, |n| {
        // SAFETY: Both descriptors are open; NULL offsets use the files'.
        unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                n,
                0,
            ) as isize
        }
    });
    assert_eq!(moved.unwrap(), LEN, "bytes copy_file_range moved");
    close(dst).unwrap();
    assert_holds(&ns.key("dst"), &value, &ns);
}

#[test]
fn splice_moves_a_key_into_a_pipe() {
    let ns = Namespace::new("splice_out");
    let value = value(LEN);
    fs::write(ns.key("k"), &value).unwrap();
    let src = File::open(ns.key("k")).unwrap();
    let (mut pipe_out, pipe_in) = pipe();
    let mut got = Vec::new();
    loop {
        // SAFETY: Both descriptors are open; a NULL offset uses the file's.
        let n = unsafe {
            libc::splice(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                pipe_in.as_raw_fd(),
                std::ptr::null_mut(),
                64 << 10,
                0,
            )
        };
        assert!(n >= 0, "splice: {}", io::Error::last_os_error());
        if n == 0 {
            break;
        }
        let mut chunk = vec![0; n as usize];
        pipe_out.read_exact(&mut chunk).unwrap();
        got.extend_from_slice(&chunk);
    }
    assert!(
        got == value,
        "spliced {} bytes, expected {}; first difference at {:?}",
        got.len(),
        value.len(),
        got.iter().zip(&value).position(|(a, b)| a != b)
    );
}

#[test]
fn splice_moves_a_pipe_into_a_key() {
    let ns = Namespace::new("splice_in");
    let value = value(LEN);
    let dst = File::create(ns.key("k")).unwrap();
    let (pipe_out, mut pipe_in) = pipe();
    for chunk in value.chunks(32 << 10) {
        pipe_in.write_all(chunk).unwrap();
        let moved = repeat(chunk.len(), |n| {
            // SAFETY: Both descriptors are open; a NULL offset uses the file's.
            unsafe {
                libc::splice(
                    pipe_out.as_raw_fd(),
                    std::ptr::null_mut(),
                    dst.as_raw_fd(),
                    std::ptr::null_mut(),
                    n,
                    0,
                )
            }
        });
        assert_eq!(moved.unwrap(), chunk.len(), "bytes splice moved");
    }
    close(dst).unwrap();
    assert_holds(&ns.key("k"), &value, &ns);
}
