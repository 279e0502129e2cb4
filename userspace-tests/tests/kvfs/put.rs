//! Put: a writer collects its bytes privately and commits them as the new
//! value at once on close, fsync or ftruncate; O_TRUNC, plain and O_APPEND
//! writers start from what the contract says.

use crate::common::Namespace;
use assert_cmd::Command;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::thread;
use std::time::Duration;

/// Runs `script` with sh in the namespace's directory.
fn sh(ns: &Namespace, script: &str) -> assert_cmd::assert::Assert {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(ns.path())
        .assert()
}

/// The committed value of the key at `path`, as a new reader sees it.
fn value(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

/// The mtime of `path` as (seconds, nanoseconds).
fn mtime(path: &Path) -> (i64, i64) {
    let meta = fs::metadata(path).unwrap();
    (meta.mtime(), meta.mtime_nsec())
}

/// Opens `path` for writing with O_TRUNC, as `>` in the shell does.
fn truncating_writer(path: &Path) -> File {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {path:?} with O_TRUNC: {e}"))
}

/// Opens `path` with O_APPEND (and O_CREAT), as `>>` in the shell does.
fn appender(path: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {path:?} with O_APPEND: {e}"))
}

#[test]
fn writes_stay_private_until_the_writer_closes() {
    let ns = Namespace::new("put_private");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"new value").unwrap();
    let mut reader = File::open(&k).unwrap();
    assert_eq!(value(&k), b"old", "before close\n{}", ns.describe());

    drop(writer);
    assert_eq!(value(&k), b"new value", "after close\n{}", ns.describe());
    let mut seen = Vec::new();
    reader.read_to_end(&mut seen).unwrap();
    assert_eq!(seen, b"old", "a reader opened before the close");
}

#[test]
fn a_shell_redirection_commits_when_its_descriptor_closes() {
    let ns = Namespace::new("put_shell_fd");
    sh(
        &ns,
        "echo old > k; exec 3> k; echo new >&3; cat k; exec 3>&-; cat k",
    )
    .success()
    .stdout("old\nnew\n");
}

#[test]
fn closing_a_duplicate_of_the_writer_does_not_commit() {
    let ns = Namespace::new("put_dup_close");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"new").unwrap();
    drop(writer.try_clone().unwrap());
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "old",
        "after closing a dup(2) of the writer, with the writer still open\n{}",
        ns.describe()
    );
    drop(writer);
    assert_eq!(
        value(&k),
        b"new",
        "after the writer closed\n{}",
        ns.describe()
    );
}

#[test]
fn fsync_commits_while_the_writer_is_open() {
    let ns = Namespace::new("put_fsync");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"v1").unwrap();
    writer.sync_all().unwrap();
    assert_eq!(value(&k), b"v1", "after fsync\n{}", ns.describe());
    assert_eq!(fs::metadata(&k).unwrap().len(), 2, "{}", ns.describe());
}

#[test]
fn fdatasync_commits_too() {
    let ns = Namespace::new("put_fdatasync");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"v1").unwrap();
    writer.sync_data().unwrap();
    assert_eq!(value(&k), b"v1", "after fdatasync\n{}", ns.describe());
}

#[test]
fn writes_after_fsync_are_private_until_the_next_commit() {
    let ns = Namespace::new("put_after_fsync");
    let k = ns.key("k");
    let mut writer = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&k)
        .unwrap();
    writer.write_all(b"v1").unwrap();
    writer.sync_all().unwrap();

    writer.write_all(b"+more").unwrap();
    assert_eq!(
        value(&k),
        b"v1",
        "after a write that follows fsync\n{}",
        ns.describe()
    );
    writer.sync_all().unwrap();
    assert_eq!(
        value(&k),
        b"v1+more",
        "after the second fsync\n{}",
        ns.describe()
    );

    writer.write_all(b"+last").unwrap();
    assert_eq!(value(&k), b"v1+more", "before close\n{}", ns.describe());
    drop(writer);
    assert_eq!(value(&k), b"v1+more+last", "after close\n{}", ns.describe());
}

#[test]
fn an_o_trunc_writer_starts_empty_and_others_keep_the_old_value() {
    let ns = Namespace::new("put_o_trunc");
    let k = ns.key("k");
    fs::write(&k, b"old value").unwrap();

    let mut writer = OpenOptions::new()
        .read(true)
        .write(true)
        .truncate(true)
        .open(&k)
        .unwrap();
    let mut own = Vec::new();
    writer.read_to_end(&mut own).unwrap();
    assert_eq!(own, b"", "what the O_TRUNC writer reads of its own value");
    assert_eq!(
        value(&k),
        b"old value",
        "while the writer is open\n{}",
        ns.describe()
    );

    writer.write_all(b"x").unwrap();
    assert_eq!(value(&k), b"old value", "after a write\n{}", ns.describe());
    drop(writer);
    assert_eq!(value(&k), b"x", "after close\n{}", ns.describe());
}

#[test]
fn a_write_only_writer_without_o_trunc_edits_the_current_value() {
    let ns = Namespace::new("put_wronly_edit");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();

    let writer = OpenOptions::new().write(true).open(&k).unwrap();
    writer.write_all_at(b"J", 0).unwrap();
    assert_eq!(value(&k), b"hello", "before close\n{}", ns.describe());
    drop(writer);
    assert_eq!(value(&k), b"Jello", "after close\n{}", ns.describe());
}

#[test]
fn a_read_write_writer_without_o_trunc_starts_from_the_current_value() {
    let ns = Namespace::new("put_rdwr_edit");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();

    let mut writer = OpenOptions::new().read(true).write(true).open(&k).unwrap();
    let mut own = Vec::new();
    writer.read_to_end(&mut own).unwrap();
    assert_eq!(own, b"hello", "what the writer reads before writing");
    writer.write_all_at(b"J", 0).unwrap();
    writer.write_all(b", world").unwrap();
    drop(writer);
    assert_eq!(value(&k), b"Jello, world", "{}", ns.describe());
}

#[test]
fn a_descriptor_reads_back_its_own_pending_writes() {
    let ns = Namespace::new("put_read_own");
    let k = ns.key("k");
    fs::write(&k, b"committed").unwrap();

    let mut writer = OpenOptions::new()
        .read(true)
        .write(true)
        .truncate(true)
        .open(&k)
        .unwrap();
    writer.write_all(b"pending bytes").unwrap();
    let mut buf = [0u8; 32];
    let n = writer.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"pending bytes", "pread on the writer");
    writer.seek(SeekFrom::Start(8)).unwrap();
    let mut rest = Vec::new();
    writer.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bytes", "read on the writer after lseek");
    assert_eq!(
        writer.seek(SeekFrom::End(0)).unwrap(),
        13,
        "lseek SEEK_END on the writer"
    );
    assert_eq!(
        value(&k),
        b"committed",
        "what others see\n{}",
        ns.describe()
    );
}

#[test]
fn an_appender_adds_to_the_value_current_at_commit() {
    let ns = Namespace::new("put_append_late");
    let k = ns.key("k");
    fs::write(&k, b"base").unwrap();

    let mut writer = appender(&k);
    writer.write_all(b"+tail").unwrap();
    assert_eq!(
        value(&k),
        b"base",
        "before the appender commits\n{}",
        ns.describe()
    );
    fs::write(&k, b"replaced").unwrap();
    assert_eq!(
        value(&k),
        b"replaced",
        "after another put\n{}",
        ns.describe()
    );

    drop(writer);
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "replaced+tail",
        "the append lands on the value current at commit\n{}",
        ns.describe()
    );
}

#[test]
fn an_appender_that_fsyncs_appends_each_byte_once() {
    let ns = Namespace::new("put_append_fsync");
    let k = ns.key("k");
    fs::write(&k, b"base").unwrap();

    let mut writer = appender(&k);
    writer.write_all(b"+one").unwrap();
    writer.sync_all().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "base+one",
        "after fsync\n{}",
        ns.describe()
    );
    writer.write_all(b"+two").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "base+one",
        "with bytes pending after fsync\n{}",
        ns.describe()
    );
    drop(writer);
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "base+one+two",
        "after close\n{}",
        ns.describe()
    );
}

#[test]
fn the_last_writer_to_commit_wins_whole() {
    let ns = Namespace::new("put_last_wins");
    let k = ns.key("k");
    fs::write(&k, b"original").unwrap();

    let mut first = truncating_writer(&k);
    let mut second = truncating_writer(&k);
    first.write_all(b"from the first writer").unwrap();
    second.write_all(b"second").unwrap();
    drop(second);
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "second",
        "after the second writer closed\n{}",
        ns.describe()
    );
    drop(first);
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "from the first writer",
        "after the first writer closed\n{}",
        ns.describe()
    );
}

/// Checks that `text` holds every line of `expected` exactly once and
/// nothing else.
fn assert_each_line_once(text: &[u8], expected: &[String], ns: &Namespace) {
    let text = String::from_utf8_lossy(text);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for line in text.lines() {
        *counts.entry(line).or_default() += 1;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|line| !counts.contains_key(line.as_str()))
        .collect();
    let repeated: Vec<(&&str, &usize)> = counts.iter().filter(|(_, &n)| n > 1).collect();
    let unexpected: Vec<&&str> = counts
        .keys()
        .filter(|line| !expected.iter().any(|e| e == **line))
        .collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && unexpected.is_empty(),
        "{} lines in the value, {} expected\nmissing ({}): {:?}\nrepeated: {:?}\nunexpected: {:?}\n{}",
        text.lines().count(),
        expected.len(),
        missing.len(),
        &missing[..missing.len().min(20)],
        &repeated[..repeated.len().min(20)],
        &unexpected[..unexpected.len().min(20)],
        ns.describe()
    );
    assert!(text.ends_with('\n'), "the value ends in a partial line");
}

#[test]
fn concurrent_appends_from_threads_lose_nothing() {
    const THREADS: usize = 8;
    const APPENDS: usize = 200;
    let ns = Namespace::new("put_append_threads");
    let k = ns.key("log");

    thread::scope(|scope| {
        for t in 0..THREADS {
            let k = &k;
            scope.spawn(move || {
                for n in 0..APPENDS {
                    let mut writer = appender(k);
                    writer
                        .write_all(format!("thread {t} line {n}\n").as_bytes())
                        .unwrap();
                }
            });
        }
    });

    let expected: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..APPENDS).map(move |n| format!("thread {t} line {n}")))
        .collect();
    assert_each_line_once(&value(&k), &expected, &ns);
}

#[test]
fn concurrent_appends_from_processes_lose_nothing() {
    const PROCESSES: usize = 8;
    const APPENDS: usize = 200;
    let ns = Namespace::new("put_append_processes");

    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "i=0; while [ $i -lt {APPENDS} ]; do \
                     echo \"process {p} line $i\" >> log; i=$((i + 1)); done"
                ))
                .current_dir(ns.path())
                .spawn()
                .expect("starting sh")
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "an appending sh failed: {status}");
    }

    let expected: Vec<String> = (0..PROCESSES)
        .flat_map(|p| (0..APPENDS).map(move |n| format!("process {p} line {n}")))
        .collect();
    assert_each_line_once(&value(&ns.key("log")), &expected, &ns);
}

#[test]
fn readers_never_see_a_half_written_value() {
    const LEN: usize = 64 << 10;
    const PUTS: usize = 40;
    let ns = Namespace::new("put_atomic");
    let k = ns.key("k");
    fs::write(&k, vec![b'a'; LEN]).unwrap();

    thread::scope(|scope| {
        let k = &k;
        let writer = scope.spawn(move || {
            for i in 0..PUTS {
                let byte = if i % 2 == 0 { b'b' } else { b'a' };
                let mut writer = truncating_writer(k);
                for chunk in vec![byte; LEN].chunks(4096) {
                    writer.write_all(chunk).unwrap();
                }
            }
        });
        let mut reads = 0;
        while !writer.is_finished() || reads < 10 {
            let seen = value(k);
            reads += 1;
            let first = seen.first().copied();
            let uniform = seen.iter().all(|&b| Some(b) == first);
            assert!(
                seen.len() == LEN && uniform,
                "read {reads} saw {} bytes, starting {:?}, uniform: {uniform}",
                seen.len(),
                String::from_utf8_lossy(&seen[..seen.len().min(16)])
            );
        }
    });
}

#[test]
fn o_creat_and_close_without_writing_leaves_an_empty_key() {
    let ns = Namespace::new("put_creat_empty");
    let k = ns.key("k");
    let writer = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&k)
        .unwrap();
    assert_eq!(ns.tree(), ["k"], "while the creator is open");
    drop(writer);

    assert_eq!(ns.tree(), ["k"]);
    assert_eq!(value(&k), b"", "{}", ns.describe());
    assert_eq!(fs::metadata(&k).unwrap().len(), 0);
}

#[test]
fn closing_a_writer_that_wrote_nothing_changes_nothing() {
    let ns = Namespace::new("put_close_untouched");
    let k = ns.key("k");
    fs::write(&k, b"keep").unwrap();
    let before = mtime(&k);
    thread::sleep(Duration::from_millis(50));

    drop(OpenOptions::new().write(true).open(&k).unwrap());
    drop(OpenOptions::new().read(true).write(true).open(&k).unwrap());
    drop(appender(&k));

    assert_eq!(value(&k), b"keep", "{}", ns.describe());
    assert_eq!(mtime(&k), before, "mtime (seconds, nanoseconds)");
}

#[test]
fn truncate_by_path_commits_at_once() {
    let ns = Namespace::new("put_truncate_path");
    let k = ns.key("k");
    fs::write(&k, b"hello world").unwrap();

    sh(&ns, "truncate -s 3 k").success();
    assert_eq!(value(&k), b"hel", "{}", ns.describe());
    assert_eq!(fs::metadata(&k).unwrap().len(), 3);
}

#[test]
fn truncate_by_path_extends_with_zeros() {
    let ns = Namespace::new("put_truncate_extend");
    let k = ns.key("k");
    fs::write(&k, b"abc").unwrap();

    sh(&ns, "truncate -s 6 k").success();
    assert_eq!(value(&k), b"abc\0\0\0", "{}", ns.describe());

    sh(&ns, "truncate -s 4 new").success();
    assert_eq!(value(&ns.key("new")), b"\0\0\0\0", "a key truncate creates");
}

#[test]
fn ftruncate_commits_the_writers_pending_value_resized() {
    let ns = Namespace::new("put_ftruncate");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"pending data").unwrap();
    writer.set_len(7).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "pending",
        "a reader opened after ftruncate, with the writer still open\n{}",
        ns.describe()
    );
    assert_eq!(fs::metadata(&k).unwrap().len(), 7, "{}", ns.describe());

    drop(writer);
    assert_eq!(
        String::from_utf8_lossy(&value(&k)),
        "pending",
        "after close\n{}",
        ns.describe()
    );
}

#[test]
fn ftruncate_extends_with_zeros() {
    let ns = Namespace::new("put_ftruncate_extend");
    let k = ns.key("k");
    fs::write(&k, b"abc").unwrap();

    let writer = OpenOptions::new().write(true).open(&k).unwrap();
    writer.set_len(6).unwrap();
    assert_eq!(
        value(&k),
        b"abc\0\0\0",
        "with the writer open\n{}",
        ns.describe()
    );
    drop(writer);
    assert_eq!(value(&k), b"abc\0\0\0", "after close\n{}", ns.describe());
}
