//! inotify events of puts, gets, creates, deletes and moves of keys and
//! namespaces.

use crate::common::Namespace;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One event read from an inotify descriptor.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: String,
}

/// An inotify descriptor watching directories for every event.
struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    fn new() -> Inotify {
        // SAFETY: inotify_init1 takes no pointers.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify_init1: {}", io::Error::last_os_error());
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Inotify { fd }
    }

    /// Watches `dir` for every event; returns the watch descriptor.
    fn watch(&self, dir: &Path) -> i32 {
        let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let wd = unsafe {
            libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), libc::IN_ALL_EVENTS)
        };
        assert!(
            wd >= 0,
            "inotify_add_watch {dir:?}: {}",
            io::Error::last_os_error()
        );
        wd
    }

    /// Every event queued so far. The kernel queues an event before the
    /// system call that caused it returns, so nothing is still on its way.
    fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "reading inotify: {e}");
                return events;
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let field = |i: usize| u32::from_ne_bytes(rest[i..i + 4].try_into().unwrap());
                let len = field(12) as usize;
                let name = &rest[16..16 + len];
                let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
                events.push(Event {
                    wd: field(0) as i32,
                    mask: field(4),
                    cookie: field(8),
                    name: String::from_utf8_lossy(name).into_owned(),
                });
                rest = &rest[16 + len..];
            }
        }
    }
}

/// The events among `events` for `name` whose mask has every bit of `mask`.
fn matching<'a>(events: &'a [Event], mask: u32, name: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.mask & mask == mask && e.name == name)
        .collect()
}

#[test]
fn a_put_is_seen_as_close_write_on_its_key() {
    let ns = Namespace::new("inotify_put");
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::write(ns.key("k"), b"value").unwrap();
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_CLOSE_WRITE, "k").len(),
        1,
        "IN_CLOSE_WRITE on \"k\" after a put; events: {events:#?}"
    );
}

#[test]
fn replacing_a_value_is_seen_as_close_write_and_not_create() {
    let ns = Namespace::new("inotify_replace");
    fs::write(ns.key("k"), b"old").unwrap();
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::write(ns.key("k"), b"new").unwrap();
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_CLOSE_WRITE, "k").len(),
        1,
        "events: {events:#?}"
    );
    assert!(
        matching(&events, libc::IN_CREATE, "k").is_empty(),
        "IN_CREATE for an existing key; events: {events:#?}"
    );
}

#[test]
fn a_get_is_seen_as_close_nowrite() {
    let ns = Namespace::new("inotify_get");
    fs::write(ns.key("k"), b"value").unwrap();
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    assert_eq!(fs::read(ns.key("k")).unwrap(), b"value");
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_CLOSE_NOWRITE, "k").len(),
        1,
        "events: {events:#?}"
    );
    assert!(
        matching(&events, libc::IN_CLOSE_WRITE, "k").is_empty(),
        "IN_CLOSE_WRITE for a get; events: {events:#?}"
    );
}

#[test]
fn creating_a_key_is_seen_as_create() {
    let ns = Namespace::new("inotify_create");
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::File::create(ns.key("k")).unwrap();
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_CREATE, "k").len(),
        1,
        "events: {events:#?}"
    );
}

#[test]
fn creating_a_namespace_is_seen_as_create_of_a_directory() {
    let ns = Namespace::new("inotify_mkdir");
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::create_dir(ns.key("sub")).unwrap();
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_CREATE | libc::IN_ISDIR, "sub").len(),
        1,
        "events: {events:#?}"
    );
}

#[test]
fn deleting_a_key_is_seen_as_delete() {
    let ns = Namespace::new("inotify_delete");
    fs::write(ns.key("k"), b"value").unwrap();
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::remove_file(ns.key("k")).unwrap();
    let events = inotify.events();
    assert_eq!(
        matching(&events, libc::IN_DELETE, "k").len(),
        1,
        "events: {events:#?}"
    );
}

#[test]
fn renaming_a_key_is_seen_as_moved_from_and_moved_to() {
    let ns = Namespace::new("inotify_rename");
    fs::write(ns.key("old"), b"value").unwrap();
    let inotify = Inotify::new();
    inotify.watch(ns.path());
    fs::rename(ns.key("old"), ns.key("new")).unwrap();
    let events = inotify.events();
    let from = matching(&events, libc::IN_MOVED_FROM, "old");
    let to = matching(&events, libc::IN_MOVED_TO, "new");
    assert!(
        from.len() == 1 && to.len() == 1 && from[0].cookie == to[0].cookie,
        "one IN_MOVED_FROM \"old\" and one IN_MOVED_TO \"new\" with the same cookie; \
         events: {events:#?}"
    );
}

#[test]
fn moving_a_key_between_namespaces_is_seen_in_both() {
    let ns = Namespace::new("inotify_move");
    fs::create_dir(ns.key("a")).unwrap();
    fs::create_dir(ns.key("b")).unwrap();
    fs::write(ns.key("a/k"), b"value").unwrap();
    let inotify = Inotify::new();
    let a = inotify.watch(&ns.key("a"));
    let b = inotify.watch(&ns.key("b"));
    fs::rename(ns.key("a/k"), ns.key("b/k")).unwrap();
    let events = inotify.events();
    let from = matching(&events, libc::IN_MOVED_FROM, "k");
    let to = matching(&events, libc::IN_MOVED_TO, "k");
    assert!(
        from.len() == 1
            && to.len() == 1
            && from[0].wd == a
            && to[0].wd == b
            && from[0].cookie == to[0].cookie,
        "IN_MOVED_FROM in a (wd {a}) and IN_MOVED_TO in b (wd {b}) with the same cookie; \
         events: {events:#?}\n{}",
        ns.describe()
    );
}
