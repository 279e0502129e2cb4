//! The limits of a store (largest value, total value bytes, key count), how
//! statfs reports them, and the memory cgroup that value memory is charged to.

use crate::common::{assert_errno, close, describe_output, MemoryCgroup, Mount};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// Puts `value` under `path` and returns what close(2), the commit, said.
fn put(path: &Path, value: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(value)?;
    close(file)
}

/// Calls truncate(2), which changes a key's value without opening it.
fn truncate_path(path: &Path, len: libc::off_t) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    if unsafe { libc::truncate(path.as_ptr(), len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[test]
fn a_value_of_exactly_max_value_is_stored() {
    let mount = Mount::new("max_value=4k");
    let value = vec![b'v'; 4096];
    put(&mount.key("k"), &value).unwrap();
    assert!(
        fs::read(mount.key("k")).unwrap() == value,
        "{}",
        mount.describe()
    );
}

#[test]
fn a_write_past_max_value_fails_with_efbig() {
    let mount = Mount::new("max_value=4k");
    let mut file = File::create(mount.key("k")).unwrap();
    assert_eq!(file.write(&[b'v'; 4096]).unwrap(), 4096);
    assert_errno(
        file.write(b"v"),
        libc::EFBIG,
        format!("writing byte 4097 with max_value=4k\n{}", mount.describe()),
    );
}

#[test]
fn a_single_write_larger_than_max_value_fails_with_efbig() {
    let mount = Mount::new("max_value=4k");
    let mut file = File::create(mount.key("k")).unwrap();
    assert_errno(
        file.write(&[b'v'; 4097]),
        libc::EFBIG,
        format!("writing 4097 bytes with max_value=4k\n{}", mount.describe()),
    );
}

#[test]
fn a_pwrite_past_max_value_fails_with_efbig() {
    let mount = Mount::new("max_value=4k");
    let file = File::create(mount.key("k")).unwrap();
    assert_eq!(file.write_at(b"v", 4095).unwrap(), 1);
    assert_errno(
        file.write_at(b"v", 4096),
        libc::EFBIG,
        format!(
            "pwrite at offset 4096 with max_value=4k\n{}",
            mount.describe()
        ),
    );
}

#[test]
fn truncate_beyond_max_value_fails_with_efbig_and_keeps_the_value() {
    let mount = Mount::new("max_value=4k");
    let key = mount.key("k");
    fs::write(&key, b"v").unwrap();
    assert_errno(
        truncate_path(&key, 4097),
        libc::EFBIG,
        format!(
            "truncate(2) to 4097 with max_value=4k\n{}",
            mount.describe()
        ),
    );
    assert_eq!(fs::read(&key).unwrap(), b"v", "{}", mount.describe());
    truncate_path(&key, 4096).unwrap();
    assert_eq!(fs::metadata(&key).unwrap().len(), 4096);
}

#[test]
fn ftruncate_beyond_max_value_fails_with_efbig() {
    let mount = Mount::new("max_value=4k");
    let file = File::create(mount.key("k")).unwrap();
    file.set_len(4096).unwrap();
    assert_errno(
        file.set_len(4097),
        libc::EFBIG,
        format!(
            "ftruncate(2) to 4097 with max_value=4k\n{}",
            mount.describe()
        ),
    );
}

#[test]
fn the_default_max_value_is_16m() {
    let mount = Mount::new("");
    let mut file = File::create(mount.key("k")).unwrap();
    file.write_all(&vec![b'v'; 16 << 20]).unwrap();
    assert_errno(
        file.write(b"v"),
        libc::EFBIG,
        format!(
            "writing byte 16m + 1 with the default options\n{}",
            mount.describe()
        ),
    );
}

#[test]
fn values_filling_max_bytes_exactly_are_stored() {
    let mount = Mount::new("max_bytes=8k,max_value=8k");
    put(&mount.key("a"), &[b'a'; 6144]).unwrap();
    put(&mount.key("b"), &[b'b'; 2048]).unwrap();
    assert_eq!(fs::read(mount.key("a")).unwrap().len(), 6144);
    assert_eq!(fs::read(mount.key("b")).unwrap().len(), 2048);
}

#[test]
fn a_commit_over_max_bytes_fails_at_close_with_enospc_and_keeps_the_old_value() {
    let mount = Mount::new("max_bytes=8k,max_value=8k");
    put(&mount.key("a"), &[b'a'; 6144]).unwrap();
    put(&mount.key("b"), b"old").unwrap();

    // 6144 + 2049 is one byte more than 8k once "old" is replaced.
    let mut file = File::create(mount.key("b")).unwrap();
    file.write_all(&[b'b'; 2049]).unwrap();
    assert_errno(
        close(file),
        libc::ENOSPC,
        format!(
            "closing a 2049-byte put next to 6144 bytes with max_bytes=8k\n{}",
            mount.describe()
        ),
    );

    assert_eq!(
        fs::read(mount.key("b")).unwrap(),
        b"old",
        "{}",
        mount.describe()
    );
    assert_eq!(fs::read(mount.key("a")).unwrap(), [b'a'; 6144]);
}

#[test]
fn a_commit_over_max_bytes_fails_at_fsync_with_enospc_and_keeps_the_old_value() {
    let mount = Mount::new("max_bytes=8k,max_value=8k");
    put(&mount.key("a"), &[b'a'; 6144]).unwrap();
    put(&mount.key("b"), b"old").unwrap();

    let mut file = File::create(mount.key("b")).unwrap();
    file.write_all(&[b'b'; 2049]).unwrap();
    assert_errno(
        file.sync_all(),
        libc::ENOSPC,
        format!(
            "fsync of a 2049-byte put next to 6144 bytes with max_bytes=8k\n{}",
            mount.describe()
        ),
    );
    assert_eq!(
        fs::read(mount.key("b")).unwrap(),
        b"old",
        "{}",
        mount.describe()
    );
    drop(file);
    assert_eq!(
        fs::read(mount.key("b")).unwrap(),
        b"old",
        "{}",
        mount.describe()
    );
}

#[test]
fn deleting_a_key_frees_its_bytes() {
    let mount = Mount::new("max_bytes=8k,max_value=8k");
    put(&mount.key("a"), &[b'a'; 8192]).unwrap();
    assert_errno(
        put(&mount.key("b"), b"b"),
        libc::ENOSPC,
        format!("a 1-byte put into a full store\n{}", mount.describe()),
    );
    fs::remove_file(mount.key("a")).unwrap();
    put(&mount.key("b"), b"b").unwrap();
    assert_eq!(fs::read(mount.key("b")).unwrap(), b"b");
}

#[test]
fn keys_beyond_max_keys_fail_with_enospc() {
    let mount = Mount::new("max_keys=3");
    for key in ["k1", "k2", "k3"] {
        fs::write(mount.key(key), key).unwrap();
    }
    assert_errno(
        File::create(mount.key("k4")),
        libc::ENOSPC,
        format!(
            "creating a fourth key with max_keys=3\n{}",
            mount.describe()
        ),
    );
    assert!(!mount.key("k4").exists(), "{}", mount.describe());
}

#[test]
fn namespaces_count_against_max_keys() {
    let mount = Mount::new("max_keys=3");
    fs::create_dir(mount.key("ns1")).unwrap();
    fs::write(mount.key("ns1/k"), b"v").unwrap();
    fs::create_dir(mount.key("ns2")).unwrap();
    assert_errno(
        fs::create_dir(mount.key("ns3")),
        libc::ENOSPC,
        format!(
            "creating a fourth entry (a namespace) with max_keys=3\n{}",
            mount.describe()
        ),
    );
    assert_errno(
        File::create(mount.key("ns2/k")),
        libc::ENOSPC,
        format!(
            "creating a fourth entry (a key) with max_keys=3\n{}",
            mount.describe()
        ),
    );
}

#[test]
fn deleting_keys_and_namespaces_frees_their_slots() {
    let mount = Mount::new("max_keys=2");
    fs::write(mount.key("k"), b"v").unwrap();
    fs::create_dir(mount.key("ns")).unwrap();
    assert_errno(
        File::create(mount.key("other")),
        libc::ENOSPC,
        format!(
            "creating a third entry with max_keys=2\n{}",
            mount.describe()
        ),
    );
    fs::remove_file(mount.key("k")).unwrap();
    fs::write(mount.key("other"), b"v").unwrap();
    fs::remove_dir(mount.key("ns")).unwrap();
    fs::create_dir(mount.key("ns2")).unwrap();
}

/// The statvfs(3) of the filesystem holding `path`.
fn statvfs(path: &Path) -> libc::statvfs {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: All-zero bytes are a valid `statvfs`, a plain C structure.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` writable; both outlive the call.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    assert_eq!(rc, 0, "statvfs: {}", io::Error::last_os_error());
    stat
}

#[test]
fn statfs_reports_max_keys_as_files() {
    let mount = Mount::new("max_keys=10");
    let stat = statvfs(mount.path());
    assert_eq!((stat.f_files, stat.f_ffree), (10, 10));

    fs::write(mount.key("a"), b"v").unwrap();
    fs::create_dir(mount.key("ns")).unwrap();
    fs::write(mount.key("ns/b"), b"v").unwrap();
    let stat = statvfs(mount.path());
    assert_eq!(
        (stat.f_files, stat.f_ffree),
        (10, 7),
        "(f_files, f_ffree) with two keys and a namespace\n{}",
        mount.describe()
    );
}

#[test]
fn statfs_reports_max_bytes_and_committed_bytes_in_4096_byte_blocks() {
    let mount = Mount::new("max_bytes=1m,max_value=64k");
    let stat = statvfs(mount.path());
    assert_eq!(stat.f_bsize, 4096);
    assert_eq!((stat.f_blocks, stat.f_bfree), (256, 256));

    // Three one-byte values are three bytes of the store: one block.
    for key in ["a", "b", "c"] {
        fs::write(mount.key(key), b"v").unwrap();
    }
    let stat = statvfs(mount.path());
    assert_eq!(
        (stat.f_blocks, stat.f_bfree, stat.f_bavail),
        (256, 255, 255),
        "(f_blocks, f_bfree, f_bavail) with 3 bytes committed\n{}",
        mount.describe()
    );

    fs::write(mount.key("d"), [b'v'; 4094]).unwrap();
    let stat = statvfs(mount.path());
    assert_eq!(
        (stat.f_blocks, stat.f_bfree),
        (256, 254),
        "(f_blocks, f_bfree) with 4097 bytes committed\n{}",
        mount.describe()
    );
}

#[test]
fn statfs_rounds_max_bytes_up_to_whole_blocks() {
    let mount = Mount::new("max_bytes=10000,max_value=10000");
    let stat = statvfs(mount.path());
    assert_eq!((stat.f_blocks, stat.f_bfree), (3, 3), "{}", mount.options());
}

#[test]
fn stat_f_and_df_show_the_limits() {
    let mount = Mount::new("max_keys=10,max_bytes=1m,max_value=64k");
    fs::write(mount.key("a"), b"v").unwrap();
    let stat = Command::new("stat")
        .args(["-f", "-c", "%S %b %f %c %d"])
        .arg(mount.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stat.stdout),
        "4096 256 255 10 9\n",
        "stat -f -c '%S %b %f %c %d' (block size, blocks, free, files, free files)\n{}",
        describe_output(&stat)
    );

    let df = Command::new("df")
        .args(["-B1", "--output=size,used,avail,itotal,iused,iavail"])
        .arg(mount.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&df.stdout);
    let numbers: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        numbers,
        ["1048576", "4096", "1044480", "10", "1", "9"],
        "df -B1 --output=size,used,avail,itotal,iused,iavail\n{}",
        describe_output(&df)
    );
}

#[test]
fn value_memory_is_charged_to_the_writers_memory_cgroup() {
    assert_value_memory_is_charged("charge", "");
}

#[test]
fn value_memory_of_an_unprivileged_writer_is_charged_to_its_cgroup() {
    assert_value_memory_is_charged(
        "charge_nobody",
        "setpriv --reuid=65534 --regid=65534 --clear-groups",
    );
}

/// Has a process in a new memory cgroup, running as `user_prefix` says
/// (empty: as root), put an 8 MiB value, and checks that the cgroup's
/// `memory.current` grew by about that much.
fn assert_value_memory_is_charged(name: &str, user_prefix: &str) {
    const VALUE: u64 = 8 << 20;
    let cgroup = MemoryCgroup::new(name);
    // Declared after the cgroup, so it is unmounted (and its values freed)
    // before the cgroup is removed.
    let mount = Mount::new("max_bytes=64m,max_value=16m");
    let before = cgroup.memory_current();

    let script = format!(
        r#"echo $$ > "$1/cgroup.procs" && exec {user_prefix} dd if=/dev/zero of="$2" bs=1M count=8 status=none"#
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(cgroup.path())
        .arg(mount.key("value"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe_output(&output));
    assert_eq!(fs::metadata(mount.key("value")).unwrap().len(), VALUE);

    let after = cgroup.memory_current();
    let charged = after.saturating_sub(before);
    assert!(
        charged >= VALUE / 16 * 15,
        "memory.current of {:?} rose by {charged} bytes ({before} -> {after}) \
         after its process ({}) put an {VALUE}-byte value",
        cgroup.path(),
        if user_prefix.is_empty() {
            "root"
        } else {
            user_prefix
        }
    );
}
