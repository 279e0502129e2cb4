//! kvfs-faults: random puts, gets, appends, renames, deletes and namespace
//! changes in DIR while the kernel fails slab allocations that kvfs makes
//! for this process (failslab with `task-filter` and a stack filter on
//! kvfs's code, which the caller configures).
//!
//! Usage: kvfs-faults DIR OPERATIONS SEED
//!
//! Every call must either succeed or fail cleanly: with ENOMEM, or with the
//! errno its own situation explains (ENOENT for a key that is not there,
//! and so on). A value read must be whole. The program prints what it
//! committed, so that the caller can check the store afterwards, and the
//! figures: operations, clean failures, violations. It exits with 1 on a
//! violation.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use userspace_tests::{check_value, make_value, Rng};

const KEYS: usize = 6;
/// ENOMEM on Linux.
const ENOMEM: i32 = 12;

fn set_make_it_fail(on: bool) {
    // The write itself may fail while faults are on; retry until it lands.
    for _ in 0..1000 {
        if fs::write("/proc/self/make-it-fail", if on { "1" } else { "0" }).is_ok() {
            return;
        }
    }
    panic!("cannot write /proc/self/make-it-fail");
}

/// An errno that the situation of a call explains, besides ENOMEM.
fn explained(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty
    ) || e.raw_os_error() == Some(ENOMEM)
}

fn key(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("k{index}"))
}

/// Puts `value` at `path`: create, write, fsync, close. Returns success
/// exactly when `value` was committed: by the fsync, or, when the fsync
/// failed and left the writes pending, by the last close. (A failed write
/// commits at most the empty value the O_TRUNC open started from.)
fn put(path: &Path, value: &[u8]) -> std::io::Result<Commit> {
    let mut file = File::create(path)?;
    let written = file.write_all(value);
    let synced = written.as_ref().ok().map(|()| file.sync_all());
    let closed = close(file);
    match (written, synced) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(Err(e))) => closed.map(|()| Commit::ByClose).map_err(|_| e),
        (Ok(()), _) => Ok(Commit::ByFsync),
    }
}

/// Which call of a successful put committed it.
#[derive(PartialEq)]
enum Commit {
    ByFsync,
    ByClose,
}

/// Closes `file` and returns what close(2) said, which is where a put
/// whose writes are still pending commits.
fn close(file: File) -> std::io::Result<()> {
    // SAFETY: `into_raw_fd` gives the descriptor up; it is closed here, once.
    if unsafe { libc::close(file.into_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: kvfs-faults DIR OPERATIONS SEED"));
    let operations: u64 = args.get(2).map_or(2000, |s| s.parse().expect("OPERATIONS"));
    let seed: u64 = args.get(3).map_or(1, |s| s.parse().expect("SEED"));
    let mut rng = Rng::new(seed);
    let writer = u64::from(std::process::id());
    let mut report = Vec::new();
    let (mut ok, mut enomem, mut violations) = (0u64, 0u64, Vec::new());
    let mut committed_by_close = 0u64;

    set_make_it_fail(true);
    for seq in 1..=operations {
        let k = key(&dir, rng.below(KEYS));
        let result = match rng.below(10) {
            0..=2 => {
                let value = make_value(writer, seq, rng.below(20_000));
                let result = put(&k, &value);
                if let Ok(commit) = &result {
                    report.push(format!("put {writer} {seq}"));
                    committed_by_close += u64::from(*commit == Commit::ByClose);
                }
                result.map(|_| ())
            }
            3..=5 => fs::read(&k).map(|value| {
                if !value.is_empty() {
                    if let Err(why) = check_value(&value) {
                        violations.push(format!("read of {}: {why}", k.display()));
                    }
                }
            }),
            6 => OpenOptions::new()
                .append(true)
                .open(dir.join("log"))
                .and_then(|mut f| f.write_all(format!("A {writer} {seq}\n").as_bytes())),
            7 => fs::rename(&k, key(&dir, rng.below(KEYS))),
            8 => fs::remove_file(&k),
            _ => fs::create_dir(dir.join("ns")).and_then(|()| fs::remove_dir(dir.join("ns"))),
        };
        match result {
            Ok(()) => ok += 1,
            Err(e) if e.raw_os_error() == Some(ENOMEM) => enomem += 1,
            Err(e) if explained(&e) => ok += 1,
            Err(e) => violations.push(format!("operation {seq} on {}: {e}", k.display())),
        }
    }
    set_make_it_fail(false);

    for line in &report {
        println!("{line}");
    }
    println!("faults: {operations} operations, {ok} done, {enomem} failed with ENOMEM");
    println!("faults: {committed_by_close} puts committed by close after their fsync failed");
    println!("faults: {} violations", violations.len());
    for violation in violations.iter().take(20) {
        println!("faults: violation: {violation}");
    }
    std::process::exit(i32::from(!violations.is_empty()));
}
