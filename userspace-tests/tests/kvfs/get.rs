//! Get: a reader sees the version that was current when it opened, in every
//! read, pread and lseek, whatever puts happen meanwhile.

use crate::common::{rest_of, truncating_writer, Namespace};
use assert_cmd::Command;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The whole of `reader`'s version by pread from offset 0.
fn pread_all(reader: &File) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = reader.read_at(&mut buf, 0).unwrap();
    buf.truncate(n);
    buf
}

/// Checks that `reader`, opened on `old`, still reads `old` through read,
/// pread and lseek(SEEK_END), and that a new reader of `path` sees `new`.
fn assert_reader_keeps(reader: &mut File, old: &[u8], path: &Path, new: &[u8], ns: &Namespace) {
    let show = String::from_utf8_lossy;
    assert_eq!(
        show(&fs::read(path).unwrap()),
        show(new),
        "a reader opened after the put\n{}",
        ns.describe()
    );
    assert_eq!(
        reader.seek(SeekFrom::End(0)).unwrap(),
        old.len() as u64,
        "lseek SEEK_END on the old reader"
    );
    assert_eq!(
        show(&pread_all(reader)),
        show(old),
        "pread on the old reader"
    );
    reader.seek(SeekFrom::Start(0)).unwrap();
    assert_eq!(show(&rest_of(reader)), show(old), "read on the old reader");
}

#[test]
fn a_reader_keeps_its_version_when_a_longer_value_is_put() {
    let ns = Namespace::new("get_longer");
    let k = ns.key("k");
    fs::write(&k, b"short").unwrap();

    let mut reader = File::open(&k).unwrap();
    fs::write(&k, b"a much longer value than before").unwrap();
    assert_reader_keeps(
        &mut reader,
        b"short",
        &k,
        b"a much longer value than before",
        &ns,
    );
}

#[test]
fn a_reader_keeps_its_version_when_a_shorter_value_is_put() {
    let ns = Namespace::new("get_shorter");
    let k = ns.key("k");
    fs::write(&k, b"a long original value").unwrap();

    let mut reader = File::open(&k).unwrap();
    let mut head = [0u8; 7];
    reader.read_exact(&mut head).unwrap();
    fs::write(&k, b"tiny").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rest_of(&mut reader)),
        "original value",
        "the rest of a read begun before the put"
    );
    assert_reader_keeps(&mut reader, b"a long original value", &k, b"tiny", &ns);
}

#[test]
fn a_reader_keeps_its_version_across_many_puts() {
    let ns = Namespace::new("get_many_puts");
    let k = ns.key("k");
    let original: Vec<u8> = (0..200u8).collect();
    fs::write(&k, &original).unwrap();

    let mut reader = File::open(&k).unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    for i in 0.. {
        fs::write(&k, format!("put {i}")).unwrap();
        if reader.read(&mut byte).unwrap() == 0 {
            break;
        }
        seen.push(byte[0]);
    }
    assert_eq!(
        seen, original,
        "one byte at a time with a put before each read"
    );
}

#[test]
fn a_reader_keeps_its_version_across_an_fsync_commit() {
    let ns = Namespace::new("get_fsync");
    let k = ns.key("k");
    fs::write(&k, b"before").unwrap();

    let mut reader = File::open(&k).unwrap();
    let mut writer = truncating_writer(&k);
    writer.write_all(b"after fsync").unwrap();
    writer.sync_all().unwrap();
    assert_reader_keeps(&mut reader, b"before", &k, b"after fsync", &ns);
}

#[test]
fn a_reader_keeps_its_version_across_an_append() {
    let ns = Namespace::new("get_append");
    let k = ns.key("k");
    fs::write(&k, b"line 1\n").unwrap();

    let mut reader = File::open(&k).unwrap();
    let mut appender = OpenOptions::new().append(true).open(&k).unwrap();
    appender.write_all(b"line 2\n").unwrap();
    drop(appender);
    assert_reader_keeps(&mut reader, b"line 1\n", &k, b"line 1\nline 2\n", &ns);
}

#[test]
fn a_reader_keeps_its_version_across_truncate() {
    let ns = Namespace::new("get_truncate");
    let k = ns.key("k");
    fs::write(&k, b"hello world").unwrap();

    let mut reader = File::open(&k).unwrap();
    Command::new("truncate")
        .args(["-s", "0"])
        .arg(&k)
        .assert()
        .success();
    assert_reader_keeps(&mut reader, b"hello world", &k, b"", &ns);
}

#[test]
fn reads_in_small_pieces_give_the_whole_value() {
    let ns = Namespace::new("get_pieces");
    let k = ns.key("k");
    let value: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&k, &value).unwrap();

    let mut reader = File::open(&k).unwrap();
    let mut seen = Vec::new();
    let mut piece = [0u8; 7];
    loop {
        let n = reader.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&piece[..n]);
    }
    assert_eq!(seen.len(), value.len(), "{}", ns.describe());
    assert!(
        seen == value,
        "the value changed when read 7 bytes at a time"
    );
}

#[test]
fn lseek_moves_within_the_version() {
    let ns = Namespace::new("get_lseek");
    let k = ns.key("k");
    fs::write(&k, b"0123456789").unwrap();

    let mut reader = File::open(&k).unwrap();
    assert_eq!(reader.seek(SeekFrom::Start(4)).unwrap(), 4);
    let mut two = [0u8; 2];
    reader.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"45");
    assert_eq!(reader.seek(SeekFrom::Current(-3)).unwrap(), 3);
    assert_eq!(reader.seek(SeekFrom::End(-2)).unwrap(), 8);
    assert_eq!(rest_of(&mut reader), b"89");
}

#[test]
fn cat_gets_the_committed_value() {
    let ns = Namespace::new("get_cat");
    fs::write(ns.key("k"), b"line 1\nline 2\n").unwrap();
    Command::new("cat")
        .arg(ns.key("k"))
        .assert()
        .success()
        .stdout("line 1\nline 2\n");
    Command::new("head")
        .args(["-c", "4"])
        .arg(ns.key("k"))
        .assert()
        .success()
        .stdout("line");
}
