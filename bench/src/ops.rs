//! The three file operations every store is measured with, as raw system
//! calls: a put is `open(O_CREAT|O_TRUNC)`, `write` and `close`; a get is
//! `open`, `read` and `close`; a delete is `unlink`.
//!
//! They go straight to libc so that every store pays for the same calls and
//! nothing else: `std::fs` would add a `statx` on some paths and ignores the
//! error of `close`, which is where a kvfs put commits.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A key's path, made once so that the measured loop does not format it.
pub(crate) struct KeyPath(CString);

impl KeyPath {
    pub(crate) fn new(path: &Path) -> KeyPath {
        KeyPath(CString::new(path.as_os_str().as_bytes()).expect("no NUL in a key path"))
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn close(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` was returned by `open` and is closed exactly once.
    check(unsafe { libc::close(fd) }).map(|_| ())
}

/// Replaces the value of `key` with `value`; the put is complete once
/// `close` returns without an error.
pub(crate) fn put(key: &KeyPath, value: &[u8]) -> io::Result<()> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    let fd = check(unsafe { libc::open(key.0.as_ptr(), flags, 0o644) })?;
    let mut rest = value;
    while !rest.is_empty() {
        // SAFETY: `rest` is valid for reads of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let error = io::Error::last_os_error();
            let _ = close(fd);
            return Err(error);
        }
        rest = &rest[n as usize..];
    }
    close(fd)
}

/// Reads the value of `key` into `buf`, which holds exactly the expected
/// value, and returns how many bytes came back.
pub(crate) fn get(key: &KeyPath, buf: &mut [u8]) -> io::Result<usize> {
    get_cstr(&key.0, buf)
}

/// [`get`] of a path given as a C string.
pub(crate) fn get_cstr(key: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    let fd = check(unsafe { libc::open(key.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            let error = io::Error::last_os_error();
            let _ = close(fd);
            return Err(error);
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    close(fd)?;
    Ok(done)
}

/// Deletes `key`.
pub(crate) fn delete(key: &KeyPath) -> io::Result<()> {
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    check(unsafe { libc::unlink(key.0.as_ptr()) }).map(|_| ())
}

/// Writes `value` to a file outside the measured paths, such as
/// `/proc/sys/vm/drop_caches`.
pub(crate) fn write_file(path: &str, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
}

/// Flushes dirty data and drops the page cache, dentries and inodes, so that
/// a reading of `/proc/meminfo` counts only what cannot be dropped.
pub(crate) fn drop_caches() -> io::Result<()> {
    // SAFETY: `sync` takes no arguments and cannot fail.
    unsafe { libc::sync() };
    write_file("/proc/sys/vm/drop_caches", "3")
}
