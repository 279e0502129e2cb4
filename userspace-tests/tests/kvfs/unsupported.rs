//! What kvfs does not support fails cleanly and leaves nothing behind: mmap
//! (ENODEV), symlinks, hard links, fifos and device nodes (EPERM), and
//! extended attributes (EOPNOTSUPP).

use crate::common::{assert_errno, Namespace};
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Turns a C return code (negative on failure) into a result with errno.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[test]
fn mmap_of_a_key_fails_with_enodev() {
    let ns = Namespace::new("mmap");
    fs::write(ns.key("k"), b"value").unwrap();
    let file = File::open(ns.key("k")).unwrap();
    for (flags, name) in [
        (libc::MAP_SHARED, "MAP_SHARED"),
        (libc::MAP_PRIVATE, "MAP_PRIVATE"),
    ] {
        // The mapping is unmapped if it is made.
        // SAFETY: A new mapping where the kernel chooses touches no memory of ours.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                5,
                libc::PROT_READ,
                flags,
                file.as_raw_fd(),
                0,
            )
        };
        let result = if map == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: `map` is the 5-byte mapping just made.
            unsafe { libc::munmap(map, 5) };
            Ok(())
        };
        assert_errno(
            result,
            libc::ENODEV,
            format!("mmap {name} PROT_READ of a key"),
        );
    }
}

#[test]
fn a_symlink_fails_with_eperm() {
    let ns = Namespace::new("symlink");
    fs::write(ns.key("k"), b"value").unwrap();
    assert_errno(
        std::os::unix::fs::symlink("k", ns.key("link")),
        libc::EPERM,
        format!("symlink(\"k\", \"link\")\n{}", ns.describe()),
    );
    assert_eq!(ns.tree(), ["k"]);
}

#[test]
fn a_hard_link_fails_with_eperm() {
    let ns = Namespace::new("link");
    fs::write(ns.key("k"), b"value").unwrap();
    assert_errno(
        fs::hard_link(ns.key("k"), ns.key("link")),
        libc::EPERM,
        format!("link(\"k\", \"link\")\n{}", ns.describe()),
    );
    assert_eq!(ns.tree(), ["k"]);
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"value");
}

#[test]
fn a_fifo_fails_with_eperm() {
    let ns = Namespace::new("fifo");
    let path = c_path(&ns.key("fifo"));
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let result = check(unsafe { libc::mkfifo(path.as_ptr(), 0o644) });
    assert_errno(result, libc::EPERM, format!("mkfifo\n{}", ns.describe()));
    assert!(ns.tree().is_empty(), "{}", ns.describe());
}

#[test]
fn a_device_node_fails_with_eperm() {
    let ns = Namespace::new("mknod");
    for (kind, name) in [(libc::S_IFCHR, "null"), (libc::S_IFBLK, "block")] {
        let path = c_path(&ns.key(name));
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let rc = unsafe { libc::mknod(path.as_ptr(), kind | 0o644, libc::makedev(1, 3)) };
        assert_errno(
            check(rc),
            libc::EPERM,
            format!("mknod {name}\n{}", ns.describe()),
        );
    }
    assert!(ns.tree().is_empty(), "{}", ns.describe());
}

#[test]
fn setting_an_xattr_fails_with_eopnotsupp() {
    let ns = Namespace::new("xattr");
    fs::write(ns.key("k"), b"value").unwrap();
    fs::create_dir(ns.key("sub")).unwrap();
    for entry in ["k", "sub"] {
        let path = c_path(&ns.key(entry));
        let value = b"v";
        // `value` is valid for reads of its length.
        // SAFETY: The path and name are NUL-terminated; all three outlive the call.
        let rc = unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"user.kvfs".as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        assert_errno(
            check(rc),
            libc::EOPNOTSUPP,
            format!("setxattr user.kvfs on {entry:?}"),
        );
    }
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"value");
}
