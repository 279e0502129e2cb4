//! Hostile and abusive input: bad user pointers, huge requests, odd names,
//! deep trees, many descriptors, busy unmounts and memory exhaustion.

use crate::common::{assert_errno, close, open_editor, rest_of, MemoryCgroup, Mount, Namespace};
use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr;

/// The size of a page in the guest.
fn page_size() -> usize {
    // SAFETY: sysconf(3) only reads a system parameter.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Anonymous memory of a whole number of pages, unmapped when dropped.
/// Pages can be made inaccessible with `protect`: to the kernel, copying
/// to or from them faults as for an unmapped address, and unlike a page
/// that was unmapped, no other thread can map something there meanwhile.
struct Pages {
    addr: *mut u8,
    len: usize,
}

impl Pages {
    /// Maps `count` pages, readable and writable unless `reserve_only`,
    /// in which case the range is only reserved (no memory backs it).
    fn new(count: usize, reserve_only: bool) -> Pages {
        let len = count * page_size();
        let (prot, flags) = if reserve_only {
            (
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            )
        } else {
            (
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            )
        };
        // SAFETY: An anonymous mapping where the kernel chooses touches no existing memory.
        let addr = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
        assert_ne!(
            addr,
            libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        Pages {
            addr: addr.cast(),
            len,
        }
    }

    /// Makes page `index` and every page after it inaccessible.
    fn protect_from(&self, index: usize) {
        let offset = index * page_size();
        // SAFETY: The range lies inside this mapping, which no Rust reference points into.
        let rc = unsafe {
            libc::mprotect(
                self.addr.add(offset).cast(),
                self.len - offset,
                libc::PROT_NONE,
            )
        };
        assert_eq!(rc, 0, "mprotect: {}", io::Error::last_os_error());
    }

    /// The bytes of the first `pages` pages, which must be accessible.
    fn accessible(&mut self, pages: usize) -> &mut [u8] {
        assert!(pages * page_size() <= self.len);
        // The caller asks only for pages it has not protected.
        // SAFETY: The mapping lives as long as `self` and is borrowed mutably from it.
        unsafe { std::slice::from_raw_parts_mut(self.addr, pages * page_size()) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: The mapping is ours and nothing borrows it any more.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}

/// Calls write(2) with a raw buffer address, which the kernel checks.
fn write_raw(file: &File, addr: *const u8, len: usize) -> io::Result<usize> {
    // An inaccessible address fails with EFAULT and touches nothing.
    // SAFETY: write(2) reads user memory only through the kernel's checked copies.
    let n = unsafe { libc::write(file.as_raw_fd(), addr.cast(), len) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Calls pwrite(2) with a raw buffer address, which the kernel checks.
fn pwrite_raw(file: &File, addr: *const u8, len: usize, offset: i64) -> io::Result<usize> {
    // SAFETY: As for `write_raw`.
    let n = unsafe { libc::pwrite(file.as_raw_fd(), addr.cast(), len, offset) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Calls read(2) with a raw buffer address, which the kernel checks.
fn read_raw(file: &File, addr: *mut u8, len: usize) -> io::Result<usize> {
    // The callers pass inaccessible pages, which no Rust reference points into.
    // SAFETY: read(2) writes user memory only through the kernel's checked copies.
    let n = unsafe { libc::read(file.as_raw_fd(), addr.cast(), len) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Calls rmdir(2) on `path` exactly as given, `.` and `..` included.
fn rmdir(path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    if unsafe { libc::rmdir(path.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[test]
fn a_write_from_an_unmapped_address_fails_with_efault_and_changes_nothing() {
    let ns = Namespace::new("hostile_efault_write");
    let k = ns.key("k");
    fs::write(&k, b"committed").unwrap();
    let bad = Pages::new(1, true);

    // A writer whose only write faults commits nothing.
    let writer = open_editor(&k);
    assert_errno(
        write_raw(&writer, bad.addr, 100),
        libc::EFAULT,
        format!(
            "write(2) of 100 bytes from an inaccessible page\n{}",
            ns.describe()
        ),
    );
    close(writer).unwrap();
    assert_eq!(fs::read(&k).unwrap(), b"committed", "{}", ns.describe());

    // A writer with pending writes keeps them whole.
    let mut writer = open_editor(&k);
    writer.write_all(b"new").unwrap();
    assert_errno(
        write_raw(&writer, bad.addr, 100),
        libc::EFAULT,
        format!(
            "write(2) from an inaccessible page after writing \"new\"\n{}",
            ns.describe()
        ),
    );
    assert_errno(
        write_raw(&writer, 1 as *const u8, 100),
        libc::EFAULT,
        format!("write(2) from address 1\n{}", ns.describe()),
    );
    let mut pending = [0u8; 32];
    let n = writer.read_at(&mut pending, 0).unwrap();
    assert_eq!(
        &pending[..n],
        b"newmitted",
        "the writer's pending value after the faulting writes"
    );
    assert_eq!(fs::read(&k).unwrap(), b"committed", "before the commit");
    close(writer).unwrap();
    assert_eq!(fs::read(&k).unwrap(), b"newmitted", "{}", ns.describe());
}

#[test]
fn a_read_into_an_unmapped_address_fails_with_efault() {
    let ns = Namespace::new("hostile_efault_read");
    let k = ns.key("k");
    fs::write(&k, b"value").unwrap();
    let bad = Pages::new(1, true);

    let mut reader = File::open(&k).unwrap();
    assert_errno(
        read_raw(&reader, bad.addr, 100),
        libc::EFAULT,
        format!(
            "read(2) of a reader into an inaccessible page\n{}",
            ns.describe()
        ),
    );
    assert_errno(
        read_raw(&reader, 1 as *mut u8, 100),
        libc::EFAULT,
        format!("read(2) of a reader into address 1\n{}", ns.describe()),
    );
    assert_eq!(
        rest_of(&mut reader),
        b"value",
        "a read after the faults, from offset 0"
    );

    let mut writer = open_editor(&k);
    assert_errno(
        read_raw(&writer, bad.addr, 100),
        libc::EFAULT,
        format!(
            "read(2) of a writer into an inaccessible page\n{}",
            ns.describe()
        ),
    );
    assert_eq!(
        rest_of(&mut writer),
        b"value",
        "the writer's read after the fault"
    );
    close(writer).unwrap();
    assert_eq!(fs::read(&k).unwrap(), b"value", "{}", ns.describe());
}

/// Closes every descriptor from 3 up except those in `keep`, with
/// close_range(2) only, which is safe to call in a child after fork(2).
fn close_all_but(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().map(|&fd| fd as u32).collect();
    keep.sort_unstable();
    let mut first = 3;
    for fd in keep.into_iter().chain([u32::MAX]) {
        if fd > first {
            // None of the descriptors closed here is used by the child afterwards.
            // SAFETY: close_range(2) only closes descriptors.
            unsafe { libc::syscall(libc::SYS_close_range, first, fd - 1, 0) };
        }
        first = fd.saturating_add(1);
    }
}

/// Puts `old` under `key` (if any), then pwrites at offset 0 a buffer that
/// starts `skip` bytes into a page and runs one page past it into an
/// inaccessible page, and returns what pwrite(2) said and the value stored
/// after close with the bytes that were offered.
fn pwrite_across_a_fault(
    ns: &Namespace,
    old: Option<&[u8]>,
    skip: usize,
) -> (io::Result<usize>, Vec<u8>, Vec<u8>) {
    let k = ns.key("k");
    let writer = match old {
        Some(old) => {
            fs::write(&k, old).unwrap();
            open_editor(&k)
        }
        None => File::create(&k).unwrap(),
    };
    let mut pages = Pages::new(2, false);
    let offered: Vec<u8> = (0..page_size()).map(|i| (i % 251) as u8 + 1).collect();
    pages.accessible(1).copy_from_slice(&offered);
    pages.protect_from(1);

    // SAFETY: `skip` is within the first page.
    let start = unsafe { pages.addr.add(skip) };
    let result = pwrite_raw(&writer, start, page_size(), 0);
    close(writer).unwrap();
    (result, fs::read(&k).unwrap(), offered[skip..].to_vec())
}

/// The bytes a pwrite(2) across an inaccessible page reported written (none
/// if it failed with EFAULT), checked to be no more than the `accessible`
/// ones.
#[track_caller]
fn reported_bytes(result: &io::Result<usize>, accessible: usize) -> usize {
    let written = match result {
        Ok(n) => *n,
        Err(e) if e.raw_os_error() == Some(libc::EFAULT) => 0,
        Err(e) => panic!("pwrite(2) across an inaccessible page: {e}"),
    };
    assert!(
        written <= accessible,
        "pwrite(2) reported {written} bytes of {accessible} accessible"
    );
    written
}

#[test]
fn a_pwrite_running_into_an_unmapped_page_stores_exactly_what_it_reports() {
    let ns = Namespace::new("hostile_short_pwrite");
    let (result, stored, offered) = pwrite_across_a_fault(&ns, None, 1000);
    let written = reported_bytes(&result, offered.len());
    assert!(
        stored == offered[..written],
        "pwrite(2) said {result:?} for a buffer with {} accessible bytes; the stored \
         value has {} bytes, {} of them equal to the offered ones\n{}",
        offered.len(),
        stored.len(),
        stored
            .iter()
            .zip(&offered)
            .take_while(|(a, b)| a == b)
            .count(),
        ns.describe()
    );
}

#[test]
fn a_pwrite_over_a_value_running_into_an_unmapped_page_edits_only_what_it_reports() {
    let ns = Namespace::new("hostile_short_pwrite_edit");
    let old = vec![b'o'; 3 * page_size()];
    let (result, stored, offered) = pwrite_across_a_fault(&ns, Some(&old), 1000);
    let written = reported_bytes(&result, offered.len());
    let mut expected = offered[..written].to_vec();
    expected.extend_from_slice(&old[written..]);
    assert!(
        stored == expected,
        "pwrite(2) at 0 over {} bytes said {result:?}; the stored value has {} bytes, \
         {} of them as expected\n{}",
        old.len(),
        stored.len(),
        stored
            .iter()
            .zip(&expected)
            .take_while(|(a, b)| a == b)
            .count(),
        ns.describe()
    );
}

#[test]
fn a_writer_of_an_unlinked_key_commits_unseen_and_a_new_key_of_the_name_is_independent() {
    let ns = Namespace::new("hostile_unlinked_writer");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut closed_first = File::create(&k).unwrap();
    let mut closed_last = open_editor(&k);
    closed_first.write_all(b"before unlink").unwrap();
    fs::remove_file(&k).unwrap();
    closed_first.write_all(b", after unlink").unwrap();
    closed_last.write_all(b"edited").unwrap();
    close(closed_first).unwrap();
    assert!(
        !k.exists(),
        "after a writer of the unlinked key committed\n{}",
        ns.describe()
    );

    fs::write(&k, b"new").unwrap();
    closed_last.write_all(b" more").unwrap();
    close(closed_last).unwrap();
    assert_eq!(
        fs::read(&k).unwrap(),
        b"new",
        "after a writer of the unlinked key committed over the new key's name\n{}",
        ns.describe()
    );
    assert_eq!(ns.tree(), ["k"]);
}

#[test]
fn rmdir_of_the_mount_root_fails_with_ebusy() {
    let mount = Mount::new("");
    fs::create_dir(mount.key("ns")).unwrap();
    fs::write(mount.key("k"), b"v").unwrap();

    assert_errno(
        rmdir(mount.path()),
        libc::EBUSY,
        format!("rmdir(2) of the mount root\n{}", mount.describe()),
    );
    assert_errno(
        rmdir(&mount.path().join(".")),
        libc::EINVAL,
        format!("rmdir(2) of ROOT/.\n{}", mount.describe()),
    );
    assert_errno(
        rmdir(&mount.key("ns/.")),
        libc::EINVAL,
        format!("rmdir(2) of ROOT/ns/.\n{}", mount.describe()),
    );
    assert_errno(
        rmdir(&mount.key("ns/..")),
        libc::ENOTEMPTY,
        format!("rmdir(2) of ROOT/ns/..\n{}", mount.describe()),
    );

    assert!(mount.key("ns").is_dir(), "{}", mount.describe());
    assert_eq!(fs::read(mount.key("k")).unwrap(), b"v");
    fs::write(mount.key("ns/k"), b"still usable").unwrap();
    assert_eq!(fs::read(mount.key("ns/k")).unwrap(), b"still usable");
}

#[test]
fn unmount_with_an_open_key_fails_with_ebusy_until_it_is_closed() {
    let mount = Mount::new("");
    let mut writer = File::create(mount.key("k")).unwrap();
    writer.write_all(b"pending").unwrap();

    assert_errno(
        mount.try_unmount(),
        libc::EBUSY,
        format!("umount2(2) with a writer open\n{}", mount.describe()),
    );
    writer.write_all(b" and more").unwrap();
    close(writer).unwrap();
    assert_eq!(fs::read(mount.key("k")).unwrap(), b"pending and more");

    let reader = File::open(mount.key("k")).unwrap();
    assert_errno(
        mount.try_unmount(),
        libc::EBUSY,
        format!("umount2(2) with a reader open\n{}", mount.describe()),
    );
    close(reader).unwrap();

    let path = mount.path().to_owned();
    mount
        .unmount()
        .unwrap_or_else(|e| panic!("umount2(2) of {path:?} after every key was closed: {e}"));
    assert!(!path.exists(), "the mount point {path:?} after unmounting");
}

#[test]
fn a_64m_write_fails_with_efbig_and_writes_nothing() {
    let mount = Mount::new("");
    let k = mount.key("k");
    fs::write(&k, b"old").unwrap();
    let mut writer = open_editor(&k);

    // Zeroed memory of 64 MiB is not touched until read, and kvfs must
    // refuse before reading it.
    let huge = vec![0u8; 64 << 20];
    assert_errno(
        writer.write(&huge),
        libc::EFBIG,
        format!(
            "write(2) of 64 MiB with max_value=16m\n{}",
            mount.describe()
        ),
    );

    // The largest count write(2) passes on, from memory that is reserved
    // but not backed: a filesystem that allocated or copied first would
    // fail with ENOMEM or EFAULT instead.
    let reserved = Pages::new((1 << 31) / page_size(), true);
    assert_errno(
        write_raw(&writer, reserved.addr, reserved.len),
        libc::EFBIG,
        format!("write(2) of 2 GiB with max_value=16m\n{}", mount.describe()),
    );

    assert_eq!(
        rest_of(&mut writer),
        b"old",
        "the writer's pending value after the refusals"
    );
    close(writer).unwrap();
    assert_eq!(fs::read(&k).unwrap(), b"old", "{}", mount.describe());
}

#[test]
fn a_write_at_a_huge_offset_fails_with_efbig() {
    let mount = Mount::new("");
    let k = mount.key("k");
    fs::write(&k, b"old").unwrap();
    let mut writer = open_editor(&k);

    for offset in [1 << 40, i64::MAX as u64 - 1] {
        assert_eq!(writer.seek(SeekFrom::Start(offset)).unwrap(), offset);
        assert_errno(
            writer.write(b"v"),
            libc::EFBIG,
            format!(
                "write(2) of 1 byte at offset {offset} with max_value=16m\n{}",
                mount.describe()
            ),
        );
        assert_errno(
            writer.write_at(b"v", offset),
            libc::EFBIG,
            format!(
                "pwrite(2) of 1 byte at offset {offset} with max_value=16m\n{}",
                mount.describe()
            ),
        );
    }

    close(writer).unwrap();
    assert_eq!(fs::read(&k).unwrap(), b"old", "{}", mount.describe());
    assert_eq!(fs::metadata(&k).unwrap().len(), 3);
}

#[test]
fn every_single_byte_name_is_created_listed_and_deleted() {
    let ns = Namespace::new("hostile_byte_names");
    // "." is the namespace itself and "/" separates names, so these are
    // every other name of one byte.
    let names: Vec<u8> = (1..=255u8).filter(|b| *b != b'/' && *b != b'.').collect();
    for &byte in &names {
        let name = OsStr::from_bytes(&[byte]).to_owned();
        fs::write(ns.path().join(&name), [byte])
            .unwrap_or_else(|e| panic!("putting the key named byte {byte:#04x}: {e}"));
    }

    let mut listed: Vec<Vec<u8>> = fs::read_dir(ns.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().as_bytes().to_vec())
        .collect();
    listed.sort();
    let expected: Vec<Vec<u8>> = names.iter().map(|&byte| vec![byte]).collect();
    assert!(
        listed == expected,
        "readdir listed {} names, expected {}; missing {:?}, unexpected {:?}",
        listed.len(),
        expected.len(),
        expected
            .iter()
            .filter(|name| !listed.contains(name))
            .collect::<Vec<_>>(),
        listed
            .iter()
            .filter(|name| !expected.contains(name))
            .collect::<Vec<_>>()
    );

    for &byte in &names {
        let path = ns.path().join(OsStr::from_bytes(&[byte]));
        assert_eq!(
            fs::read(&path).unwrap(),
            [byte],
            "the key named {byte:#04x}"
        );
        fs::remove_file(&path)
            .unwrap_or_else(|e| panic!("deleting the key named byte {byte:#04x}: {e}"));
    }
    assert_eq!(ns.tree(), Vec::<String>::new(), "{}", ns.describe());
}

/// Raises this process's soft limit on open descriptors to at least `at_least`
/// (and the hard limit with it, if needed; the tests run as root).
fn raise_open_files_limit(at_least: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a writable `rlimit` that outlives the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    if limit.rlim_cur >= at_least {
        return;
    }
    limit.rlim_cur = at_least;
    limit.rlim_max = limit.rlim_max.max(at_least);
    // SAFETY: `limit` is a valid `rlimit` that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(
        rc,
        0,
        "setrlimit(RLIMIT_NOFILE, {at_least}): {}",
        io::Error::last_os_error()
    );
}

#[test]
fn hundreds_of_readers_and_writers_of_one_key_keep_their_versions() {
    const VERSIONS: usize = 5;
    const READERS_PER_VERSION: usize = 100;
    const WRITERS: usize = 100;
    // Tests run in parallel in one process and share its descriptors.
    raise_open_files_limit(8192);
    let ns = Namespace::new("hostile_many_descriptors");
    let k = ns.key("k");

    let mut readers = Vec::new();
    for version in 0..VERSIONS {
        fs::write(&k, format!("version {version}")).unwrap();
        for _ in 0..READERS_PER_VERSION {
            readers.push((version, File::open(&k).unwrap()));
        }
    }
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut file = File::create(&k).unwrap();
        file.write_all(format!("writer {writer}").as_bytes())
            .unwrap();
        writers.push(file);
    }

    for (writer, file) in writers.into_iter().enumerate() {
        close(file).unwrap_or_else(|e| panic!("closing writer {writer}: {e}"));
    }
    assert_eq!(
        fs::read_to_string(&k).unwrap(),
        format!("writer {}", WRITERS - 1),
        "after every writer committed in turn"
    );

    for (index, (version, mut file)) in readers.into_iter().enumerate() {
        let mut value = String::new();
        file.read_to_string(&mut value).unwrap();
        assert_eq!(
            value,
            format!("version {version}"),
            "reader {index}, opened at version {version}"
        );
        close(file).unwrap_or_else(|e| panic!("closing reader {index}: {e}"));
    }
}

#[test]
fn a_hundred_nested_namespaces_are_created_and_removed() {
    const DEPTH: usize = 100;
    let ns = Namespace::new("hostile_deep");
    let mut levels = vec![ns.path().to_owned()];
    for level in 0..DEPTH {
        let path = levels.last().unwrap().join(format!("n{level}"));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir at depth {}: {e}", level + 1));
        levels.push(path);
    }
    let deepest = levels.last().unwrap().join("k");
    fs::write(&deepest, b"deep").unwrap();
    assert_eq!(fs::read(&deepest).unwrap(), b"deep");
    assert_eq!(
        ns.tree().len(),
        DEPTH + 1,
        "entries below the namespace\n{}",
        ns.describe()
    );

    fs::remove_file(&deepest).unwrap();
    for (depth, path) in levels.iter().enumerate().skip(1).rev() {
        assert_errno(
            rmdir(ns.path()),
            libc::ENOTEMPTY,
            format!("rmdir(2) of the top with depth {depth} left"),
        );
        fs::remove_dir(path).unwrap_or_else(|e| panic!("rmdir at depth {depth}: {e}"));
    }
    assert_eq!(ns.tree(), Vec::<String>::new(), "{}", ns.describe());
}

/// The byte that fills the value of the `index`th key of the exhaustion
/// test, never zero so that a zero-filled value cannot pass for one.
fn fill_byte(index: usize) -> u8 {
    (index % 255) as u8 + 1
}

/// What the child of the exhaustion test reports for each put it tried:
/// its index and 0 if close(2) committed it, or the errno of the step that
/// failed.
const REPORT_LEN: usize = 8;

#[test]
fn a_store_stays_consistent_when_its_writers_memory_cgroup_runs_out() {
    const VALUE: usize = 1 << 20;
    const PUTS: usize = 200;
    let cgroup = MemoryCgroup::new("exhaustion");
    cgroup.set_memory_max("16M");
    // Declared after the cgroup, so it is unmounted (and its values freed)
    // before the cgroup is removed.
    let mount = Mount::new("max_value=2m,max_bytes=1g,max_keys=1k");

    // Everything the child uses is made here: after fork(2) in a process
    // with threads, the child may only make system calls.
    let paths: Vec<CString> = (0..PUTS)
        .map(|i| CString::new(mount.key(&format!("k{i}")).as_os_str().as_bytes()).unwrap())
        .collect();
    let mut value = vec![0u8; VALUE];
    let procs = OpenOptions::new()
        .write(true)
        .open(cgroup.path().join("cgroup.procs"))
        .unwrap();
    let mut pipe = [0; 2];
    // SAFETY: `pipe` is a writable array of two descriptors.
    let rc = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    let (mut reports, report_writer) = (
        // SAFETY: pipe2(2) just made this descriptor, and nothing else owns it.
        unsafe { File::from_raw_fd(pipe[0]) },
        // SAFETY: Likewise for the write end.
        unsafe { File::from_raw_fd(pipe[1]) },
    );

    // The child runs only `put_until_it_fails`, which makes system calls and
    // fills memory it already owns, then exits with _exit(2).
    // SAFETY: So the child uses only what is safe after forking a threaded process.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork: {}", io::Error::last_os_error());
    if child == 0 {
        // The child got a copy of every descriptor of this process, other
        // tests' kvfs writers among them, and a copy holds a put back until
        // it is closed; keep only the two descriptors the child uses.
        close_all_but(&[procs.as_raw_fd(), report_writer.as_raw_fd()]);
        put_until_it_fails(&procs, &report_writer, &paths, &mut value);
    }
    drop(report_writer);
    drop(procs);

    let mut status = 0;
    // SAFETY: `status` is a writable int that outlives the call.
    let rc = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(rc, child, "waitpid: {}", io::Error::last_os_error());
    let mut bytes = Vec::new();
    reports.read_to_end(&mut bytes).unwrap();
    let reports: Vec<(usize, i32)> = bytes
        .chunks_exact(REPORT_LEN)
        .map(|report| {
            let index = u32::from_le_bytes(report[..4].try_into().unwrap()) as usize;
            (index, i32::from_le_bytes(report[4..].try_into().unwrap()))
        })
        .collect();
    let committed: Vec<usize> = reports
        .iter()
        .filter(|(_, errno)| *errno == 0)
        .map(|(index, _)| *index)
        .collect();
    let how = if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    };
    let context = format!(
        "the child putting {VALUE}-byte values in a cgroup with memory.max=16M {how} \
         after {} commits; its last report {:?}; memory.current {}, memory.events oom {} \
         oom_kill {}",
        committed.len(),
        reports.last(),
        cgroup.memory_current(),
        cgroup.memory_event("oom"),
        cgroup.memory_event("oom_kill"),
    );
    assert!(
        committed.len() < PUTS,
        "{context}: every put fit, so the values were not charged to the cgroup"
    );
    assert!(
        libc::WIFSIGNALED(status) || libc::WEXITSTATUS(status) != 0,
        "{context}"
    );
    eprintln!("{context}");

    // Every key holds a whole value of its own or, created but never
    // committed, nothing.
    for index in 0..PUTS {
        let key = mount.key(&format!("k{index}"));
        let stored = match fs::read(&key) {
            Ok(stored) => stored,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                assert!(
                    !committed.contains(&index),
                    "k{index} is missing after its put was committed; {context}"
                );
                continue;
            }
            Err(e) => panic!("reading k{index} after the exhaustion: {e}; {context}"),
        };
        let whole = stored.len() == VALUE && stored.iter().all(|&b| b == fill_byte(index));
        assert!(
            whole || (stored.is_empty() && !committed.contains(&index)),
            "k{index} (committed: {}) holds {} bytes, {} of them its fill byte; {context}",
            committed.contains(&index),
            stored.len(),
            stored.iter().filter(|&&b| b == fill_byte(index)).count(),
        );
    }
    let entries = fs::read_dir(mount.path()).unwrap().count();
    assert!(
        entries <= PUTS,
        "{entries} entries in the mount\n{}",
        mount.describe()
    );

    // The store goes on working for a process outside the cgroup.
    let fresh = vec![b'f'; VALUE];
    fs::write(mount.key("after"), &fresh).unwrap();
    assert!(fs::read(mount.key("after")).unwrap() == fresh);
    for index in committed {
        fs::remove_file(mount.key(&format!("k{index}"))).unwrap();
    }
    fs::write(mount.key("after"), b"small").unwrap();
    assert_eq!(fs::read(mount.key("after")).unwrap(), b"small");
}

/// The child of the exhaustion test: joins the cgroup through `procs`, then
/// puts value after value, each in a single write(2) so that none can be
/// committed in part, and reports each to `reports` until one fails.
fn put_until_it_fails(procs: &File, reports: &File, paths: &[CString], value: &mut [u8]) -> ! {
    let report = |index: usize, errno: i32| {
        let mut bytes = [0u8; REPORT_LEN];
        bytes[..4].copy_from_slice(&(index as u32).to_le_bytes());
        bytes[4..].copy_from_slice(&errno.to_le_bytes());
        // A pipe write of 8 bytes is atomic.
        // SAFETY: `bytes` is readable for its length.
        unsafe { libc::write(reports.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    };
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // `_exit` ends the child without running the parent's destructors.
    // SAFETY: Every call below is a system call on what the child owns.
    unsafe {
        // Writing 0 to cgroup.procs moves the writing process.
        if libc::write(procs.as_raw_fd(), c"0".as_ptr().cast(), 1) != 1 {
            report(usize::MAX, errno());
            libc::_exit(2);
        }
        for (index, path) in paths.iter().enumerate() {
            value.fill(fill_byte(index));
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            let fd = libc::open(path.as_ptr(), flags, 0o644);
            if fd < 0 {
                report(index, errno());
                libc::_exit(3);
            }
            let written = libc::write(fd, value.as_ptr().cast(), value.len());
            if written != value.len() as isize {
                report(index, if written < 0 { errno() } else { -1 });
                libc::_exit(4);
            }
            if libc::close(fd) != 0 {
                report(index, errno());
                libc::_exit(5);
            }
            report(index, 0);
        }
        libc::_exit(0)
    }
}
