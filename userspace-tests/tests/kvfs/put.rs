//! Put: a writer collects its bytes privately and commits them as the new
//! value at once on close, fsync or ftruncate; O_TRUNC, plain and O_APPEND
//! writers start from what the contract says.

use crate::common::{
    appender, assert_reads_see_whole_values, mtime, open_editor, rest_of, sh,
    truncating_read_writer, truncating_writer, value, Namespace,
};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::thread;
use std::time::Duration;

#[test]
fn writes_stay_private_until_the_writer_closes() {
    let ns = Namespace::new("put_private");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"new value").unwrap();
    let mut reader = File::open(&k).unwrap();
    ns.assert_value("k", b"old", "before close");

    drop(writer);
    ns.assert_value("k", b"new value", "after close");
    assert_eq!(
        rest_of(&mut reader),
        b"old",
        "a reader opened before the close"
    );
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
    ns.assert_value(
        "k",
        "old",
        "after closing a dup(2) of the writer, with the writer still open",
    );
    drop(writer);
    ns.assert_value("k", b"new", "after the writer closed");
}

#[test]
fn fsync_commits_while_the_writer_is_open() {
    let ns = Namespace::new("put_fsync");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"v1").unwrap();
    writer.sync_all().unwrap();
    ns.assert_value("k", b"v1", "after fsync");
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
    ns.assert_value("k", b"v1", "after fdatasync");
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
    ns.assert_value("k", b"v1", "after a write that follows fsync");
    writer.sync_all().unwrap();
    ns.assert_value("k", b"v1+more", "after the second fsync");

    writer.write_all(b"+last").unwrap();
    ns.assert_value("k", b"v1+more", "before close");
    drop(writer);
    ns.assert_value("k", b"v1+more+last", "after close");
}

#[test]
fn an_o_trunc_writer_starts_empty_and_others_keep_the_old_value() {
    let ns = Namespace::new("put_o_trunc");
    let k = ns.key("k");
    fs::write(&k, b"old value").unwrap();

    let mut writer = truncating_read_writer(&k);
    assert_eq!(
        rest_of(&mut writer),
        b"",
        "what the O_TRUNC writer reads of its own value"
    );
    ns.assert_value("k", b"old value", "while the writer is open");

    writer.write_all(b"x").unwrap();
    ns.assert_value("k", b"old value", "after a write");
    drop(writer);
    ns.assert_value("k", b"x", "after close");
}

#[test]
fn a_write_only_writer_without_o_trunc_edits_the_current_value() {
    let ns = Namespace::new("put_wronly_edit");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();

    let writer = OpenOptions::new().write(true).open(&k).unwrap();
    writer.write_all_at(b"J", 0).unwrap();
    ns.assert_value("k", b"hello", "before close");
    drop(writer);
    ns.assert_value("k", b"Jello", "after close");
}

#[test]
fn a_read_write_writer_without_o_trunc_starts_from_the_current_value() {
    let ns = Namespace::new("put_rdwr_edit");
    let k = ns.key("k");
    fs::write(&k, b"hello").unwrap();

    let mut writer = open_editor(&k);
    assert_eq!(
        rest_of(&mut writer),
        b"hello",
        "what the writer reads before writing"
    );
    writer.write_all_at(b"J", 0).unwrap();
    writer.write_all(b", world").unwrap();
    drop(writer);
    ns.assert_value("k", b"Jello, world", "after close");
}

#[test]
fn a_descriptor_reads_back_its_own_pending_writes() {
    let ns = Namespace::new("put_read_own");
    let k = ns.key("k");
    fs::write(&k, b"committed").unwrap();

    let mut writer = truncating_read_writer(&k);
    writer.write_all(b"pending bytes").unwrap();
    let mut buf = [0u8; 32];
    let n = writer.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"pending bytes", "pread on the writer");
    writer.seek(SeekFrom::Start(8)).unwrap();
    assert_eq!(
        rest_of(&mut writer),
        b"bytes",
        "read on the writer after lseek"
    );
    assert_eq!(
        writer.seek(SeekFrom::End(0)).unwrap(),
        13,
        "lseek SEEK_END on the writer"
    );
    ns.assert_value("k", b"committed", "what others see");
}

#[test]
fn an_appender_adds_to_the_value_current_at_commit() {
    let ns = Namespace::new("put_append_late");
    let k = ns.key("k");
    fs::write(&k, b"base").unwrap();

    let mut writer = appender(&k);
    writer.write_all(b"+tail").unwrap();
    ns.assert_value("k", b"base", "before the appender commits");
    fs::write(&k, b"replaced").unwrap();
    ns.assert_value("k", b"replaced", "after another put");

    drop(writer);
    ns.assert_value(
        "k",
        "replaced+tail",
        "the append lands on the value current at commit",
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
    ns.assert_value("k", "base+one", "after fsync");
    writer.write_all(b"+two").unwrap();
    ns.assert_value("k", "base+one", "with bytes pending after fsync");
    drop(writer);
    ns.assert_value("k", "base+one+two", "after close");
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
    ns.assert_value("k", "second", "after the second writer closed");
    drop(first);
    ns.assert_value(
        "k",
        "from the first writer",
        "after the first writer closed",
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
        assert_reads_see_whole_values(k, LEN, || writer.is_finished(), &ns);
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
    ns.assert_value("k", b"", "after the creator closed");
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
    drop(open_editor(&k));
    drop(appender(&k));

    ns.assert_value("k", b"keep", "after closing writers that wrote nothing");
    assert_eq!(mtime(&k), before, "mtime (seconds, nanoseconds)");
}

#[test]
fn truncate_by_path_commits_at_once() {
    let ns = Namespace::new("put_truncate_path");
    let k = ns.key("k");
    fs::write(&k, b"hello world").unwrap();

    sh(&ns, "truncate -s 3 k").success();
    ns.assert_value("k", b"hel", "after truncate -s 3");
    assert_eq!(fs::metadata(&k).unwrap().len(), 3);
}

#[test]
fn truncate_by_path_extends_with_zeros() {
    let ns = Namespace::new("put_truncate_extend");
    let k = ns.key("k");
    fs::write(&k, b"abc").unwrap();

    sh(&ns, "truncate -s 6 k").success();
    ns.assert_value("k", b"abc\0\0\0", "after truncate -s 6");

    sh(&ns, "truncate -s 4 new").success();
    ns.assert_value("new", b"\0\0\0\0", "a key truncate creates");
}

#[test]
fn ftruncate_commits_the_writers_pending_value_resized() {
    let ns = Namespace::new("put_ftruncate");
    let k = ns.key("k");
    fs::write(&k, b"old").unwrap();

    let mut writer = truncating_writer(&k);
    writer.write_all(b"pending data").unwrap();
    writer.set_len(7).unwrap();
    ns.assert_value(
        "k",
        "pending",
        "a reader opened after ftruncate, with the writer still open",
    );
    assert_eq!(fs::metadata(&k).unwrap().len(), 7, "{}", ns.describe());

    drop(writer);
    ns.assert_value("k", "pending", "after close");
}

#[test]
fn ftruncate_extends_with_zeros() {
    let ns = Namespace::new("put_ftruncate_extend");
    let k = ns.key("k");
    fs::write(&k, b"abc").unwrap();

    let writer = OpenOptions::new().write(true).open(&k).unwrap();
    writer.set_len(6).unwrap();
    ns.assert_value("k", b"abc\0\0\0", "with the writer open");
    drop(writer);
    ns.assert_value("k", b"abc\0\0\0", "after close");
}

#[test]
fn values_of_every_length_up_to_a_hundred_bytes_survive_puts_appends_and_truncates() {
    // kvfs keeps short values inside their version and longer ones in a
    // buffer of their own; every length, and every change from one side
    // of that line to the other, must give the same bytes back.
    let ns = Namespace::new("put_every_length");
    let k = ns.key("k");
    let pattern = |n: usize| -> Vec<u8> { (0..n).map(|i| b'a' + (i % 26) as u8).collect() };
    for n in 0..=100 {
        let mut expected = pattern(n);
        fs::write(&k, &expected).unwrap();
        ns.assert_value("k", &expected, format_args!("after a put of {n} bytes"));

        appender(&k).write_all(b"+").unwrap();
        expected.push(b'+');
        ns.assert_value("k", &expected, format_args!("after appending to {n} bytes"));

        let half = n / 2;
        OpenOptions::new()
            .write(true)
            .open(&k)
            .unwrap()
            .set_len(half as u64)
            .unwrap();
        expected.truncate(half);
        ns.assert_value(
            "k",
            &expected,
            format_args!("after cutting {n} bytes to {half}"),
        );

        let grown = n + 10;
        OpenOptions::new()
            .write(true)
            .open(&k)
            .unwrap()
            .set_len(grown as u64)
            .unwrap();
        expected.resize(grown, 0);
        ns.assert_value(
            "k",
            &expected,
            format_args!("after growing to {grown} bytes"),
        );
    }
}
