//! Setup shared by every test: where kvfs is mounted, a private namespace
//! per test, the usual ways to open, read and script against a key, and
//! assertions that print enough to debug a failure.

use std::fmt::{Debug, Display, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;
use walkdir::WalkDir;

use std::ffi::CString;
use std::fs;
use std::mem::ManuallyDrop;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

/// The mount point of the kvfs under test.
pub fn mount() -> PathBuf {
    let mount = std::env::var_os("KVFS_MOUNT")
        .expect("KVFS_MOUNT is not set: these tests run inside the kvfs VM (make test)");
    PathBuf::from(mount)
}

/// A namespace (directory) of its own in the store under test, removed
/// with everything in it when dropped.
pub struct Namespace {
    dir: TempDir,
}

impl Namespace {
    /// Creates a fresh namespace whose name starts with `name`.
    pub fn new(name: &str) -> Namespace {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempdir_in(mount())
            .unwrap_or_else(|e| panic!("creating a namespace in {:?}: {e}", mount()));
        Namespace { dir }
    }

    /// The namespace's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `key` in this namespace.
    pub fn key(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }

    /// Every entry below the namespace, relative to it, sorted, with a
    /// trailing `/` on directories.
    pub fn tree(&self) -> Vec<String> {
        let mut entries: Vec<String> = WalkDir::new(self.path())
            .min_depth(1)
            .into_iter()
            .map(|entry| {
                let entry = entry.expect("walking the namespace");
                let relative = entry.path().strip_prefix(self.path()).unwrap();
                let mut name = relative.to_string_lossy().into_owned();
                if entry.file_type().is_dir() {
                    name.push('/');
                }
                name
            })
            .collect();
        entries.sort();
        entries
    }

    /// A description of the namespace for failure messages: every key with
    /// its size.
    pub fn describe(&self) -> String {
        let mut text = format!("namespace {:?}:\n", self.path());
        describe_entries(self.path(), &mut text);
        text
    }

    /// Asserts that `key` holds `expected` for a new reader; `when` says at
    /// what point of the test. A failure prints both values and the
    /// namespace.
    #[track_caller]
    pub fn assert_value(&self, key: &str, expected: impl AsRef<[u8]>, when: impl Display) {
        let expected = expected.as_ref();
        let got = value(&self.key(key));
        if got != expected {
            let first = got.iter().zip(expected).position(|(a, b)| a != b);
            panic!(
                "{key:?} holds {}, expected {} (first difference at {first:?}), {when}\n{}",
                show_bytes(&got),
                show_bytes(expected),
                self.describe()
            );
        }
    }
}

/// Adds a line for every entry below `root` to `text`, with its size, for
/// failure messages.
fn describe_entries(root: &Path, text: &mut String) {
    for entry in WalkDir::new(root).min_depth(1) {
        match entry {
            Ok(entry) => {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = writeln!(text, "  {} ({len} bytes)", entry.path().display());
            }
            Err(e) => {
                let _ = writeln!(text, "  error: {e}");
            }
        }
    }
}

/// Bytes as escaped text for failure messages, cut short if long.
fn show_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 64;
    if bytes.len() <= SHOWN {
        format!("\"{}\"", bytes.escape_ascii())
    } else {
        format!(
            "{} bytes \"{}\"...",
            bytes.len(),
            bytes[..SHOWN].escape_ascii()
        )
    }
}

/// Runs `script` with sh in the namespace's directory.
pub fn sh(ns: &Namespace, script: &str) -> assert_cmd::assert::Assert {
    run_script("sh", ns, script)
}

/// Runs `program -c script` (sh, python3) in the namespace's directory.
pub fn run_script(program: &str, ns: &Namespace, script: &str) -> assert_cmd::assert::Assert {
    assert_cmd::Command::new(program)
        .arg("-c")
        .arg(script)
        .current_dir(ns.path())
        .assert()
}

/// The committed value of the key at `path`, as a new reader sees it.
pub fn value(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

/// The mtime of `path` as (seconds, nanoseconds).
pub fn mtime(path: &Path) -> (i64, i64) {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("stat of {path:?}: {e}"));
    (meta.mtime(), meta.mtime_nsec())
}

/// Everything `file` gives from its current position to the end.
pub fn rest_of(file: &mut File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("reading to the end: {e}"));
    bytes
}

/// Opens `path` with `options`, panicking with `how` it was opened.
fn open_with(path: &Path, options: &OpenOptions, how: &str) -> File {
    options
        .open(path)
        .unwrap_or_else(|e| panic!("opening {path:?} {how}: {e}"))
}

/// Opens `path` for writing with O_TRUNC, as `>` in the shell does.
pub fn truncating_writer(path: &Path) -> File {
    open_with(
        path,
        OpenOptions::new().write(true).truncate(true),
        "with O_TRUNC",
    )
}

/// Opens `path` for reading and writing with O_TRUNC: a writer that starts
/// empty and can read its own pending bytes back.
pub fn truncating_read_writer(path: &Path) -> File {
    open_with(
        path,
        OpenOptions::new().read(true).write(true).truncate(true),
        "read-write with O_TRUNC",
    )
}

/// Opens `path` for reading and writing without O_TRUNC, so that the
/// writer starts from the committed value.
pub fn open_editor(path: &Path) -> File {
    open_with(
        path,
        OpenOptions::new().read(true).write(true),
        "read-write",
    )
}

/// Opens `path` with O_APPEND (and O_CREAT), as `>>` in the shell does.
pub fn appender(path: &Path) -> File {
    open_with(
        path,
        OpenOptions::new().append(true).create(true),
        "with O_APPEND",
    )
}

/// Reads the key at `path` again and again until `finished` says the
/// thread putting values is done (and at least ten times), asserting that
/// every read sees a whole value: `len` copies of one byte.
#[track_caller]
pub fn assert_reads_see_whole_values(
    path: &Path,
    len: usize,
    finished: impl Fn() -> bool,
    ns: &Namespace,
) {
    let mut reads = 0;
    while !finished() || reads < 10 {
        reads += 1;
        let seen = fs::read(path)
            .unwrap_or_else(|e| panic!("read {reads} of {path:?}: {e}\n{}", ns.describe()));
        let first = seen.first().copied();
        let uniform = seen.iter().all(|&b| Some(b) == first);
        assert!(
            seen.len() == len && uniform,
            "read {reads} of {path:?} saw {} bytes, starting {:?}, uniform: {uniform}",
            seen.len(),
            String::from_utf8_lossy(&seen[..seen.len().min(16)])
        );
    }
}

/// A kvfs instance of its own, mounted with chosen options on a fresh
/// directory under /tmp and unmounted when dropped, for tests that need
/// limits or settings other than those of the shared mount.
pub struct Mount {
    dir: TempDir,
}

impl Mount {
    /// Mounts a new kvfs with `options` (as for `mount -o`; empty for the
    /// defaults), panicking with mount(8)'s output if it refuses.
    pub fn new(options: &str) -> Mount {
        Mount::try_new(options).unwrap_or_else(|output| {
            panic!(
                "mount -t kvfs -o {options:?} failed:\n{}",
                describe_output(&output)
            )
        })
    }

    /// Mounts a new kvfs with `options`, or returns what mount(8) said if it
    /// refuses.
    pub fn try_new(options: &str) -> Result<Mount, Output> {
        let dir = tempfile::Builder::new()
            .prefix("kvfs-mount.")
            .tempdir_in("/tmp")
            .expect("creating a mount point in /tmp");
        // mount(8) would take a source naming an existing path for that
        // path, so it runs from / where no "kvfs" entry exists.
        let mut mount = Command::new("mount");
        mount.current_dir("/").args(["-t", "kvfs"]);
        if !options.is_empty() {
            mount.args(["-o", options]);
        }
        let output = mount
            .arg("kvfs")
            .arg(dir.path())
            .output()
            .expect("running mount");
        if output.status.success() {
            Ok(Mount { dir })
        } else {
            Err(output)
        }
    }

    /// The root directory of the mount.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `key` in the mount's root.
    pub fn key(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }

    /// The options `/proc/mounts` shows for the mount.
    pub fn options(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("reading /proc/mounts");
        let path = self.path().to_string_lossy();
        mounts
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.len() > 3 && fields[1] == path)
            .map(|fields| fields[3].to_owned())
            .unwrap_or_else(|| panic!("{path} is not in /proc/mounts:\n{mounts}"))
    }

    /// Runs `mount -o remount,OPTIONS` on the mount and returns its output.
    pub fn remount(&self, options: &str) -> Output {
        Command::new("mount")
            .arg("-o")
            .arg(format!("remount,{options}"))
            .arg(self.path())
            .output()
            .expect("running mount -o remount")
    }

    /// A description of the mount for failure messages: its options and
    /// every entry in it with its size.
    pub fn describe(&self) -> String {
        let mut text = format!("mount {:?} ({}):\n", self.path(), self.options());
        describe_entries(self.path(), &mut text);
        text
    }
}

impl Mount {
    /// Calls umount2(2) on the mount and returns its result, leaving the
    /// `Mount` to be dropped later (which unmounts it, if this did not).
    pub fn try_unmount(&self) -> io::Result<()> {
        let path = CString::new(self.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Unmounts the mount with umount2(2) and removes its mount point,
    /// returning umount2's error if it refuses (the drop then tries again).
    pub fn unmount(self) -> io::Result<()> {
        self.try_unmount()?;
        let unmounted = ManuallyDrop::new(self);
        // `unmounted` is never dropped or used again.
        // SAFETY: So `dir` is moved out of it exactly once.
        let dir = unsafe { std::ptr::read(&unmounted.dir) };
        dir.close()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let output = Command::new("umount").arg(self.path()).output();
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "umount {:?} failed:\n{}",
                self.path(),
                describe_output(&output)
            ),
            Err(e) => eprintln!("running umount {:?}: {e}", self.path()),
        }
    }
}

/// The exit status, stdout and stderr of a finished program, for failure
/// messages.
pub fn describe_output(output: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that `result` is the error `errno`; `context` says what was
/// tried and the state it was tried in.
#[track_caller]
pub fn assert_errno<T: Debug>(result: io::Result<T>, errno: i32, context: impl Display) {
    let expected = io::Error::from_raw_os_error(errno);
    match result {
        Err(e) if e.raw_os_error() == Some(errno) => {}
        other => panic!("expected {expected}, got {other:?}: {context}"),
    }
}

/// Closes `file` with close(2) and returns its result. A put commits on
/// close, and dropping a `File` would throw the commit's error away.
pub fn close(file: File) -> io::Result<()> {
    let fd = file.into_raw_fd();
    // SAFETY: `fd` was just taken out of a `File`: it is open, and nobody else owns it.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A child cgroup of the cgroup v2 root with the memory controller enabled,
/// removed when dropped (along with the cgroup2 mount, if it had to make
/// one). Anything charged to it must be freed first: declare it before the
/// `Mount` whose values it is charged for.
pub struct MemoryCgroup {
    path: PathBuf,
    hierarchy: Option<TempDir>,
}

impl MemoryCgroup {
    /// Creates the cgroup `kvfs-NAME.PID`, mounting cgroup2 if the guest
    /// has not.
    pub fn new(name: &str) -> MemoryCgroup {
        let mounts = fs::read_to_string("/proc/mounts").unwrap();
        let mounted = mounts
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.len() > 2 && fields[2] == "cgroup2")
            .map(|fields| PathBuf::from(fields[1]));
        let (root, hierarchy) = match mounted {
            Some(root) => (root, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("cgroup2.")
                    .tempdir_in("/tmp")
                    .unwrap();
                let output = Command::new("mount")
                    .args(["-t", "cgroup2", "none"])
                    .arg(dir.path())
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "the guest kernel cannot mount cgroup2:\n{}",
                    describe_output(&output)
                );
                (dir.path().to_owned(), Some(dir))
            }
        };

        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap();
        assert!(
            controllers.split_whitespace().any(|c| c == "memory"),
            "the guest kernel has no memory controller; cgroup.controllers of {root:?}: \
             {controllers:?}"
        );
        fs::write(root.join("cgroup.subtree_control"), "+memory")
            .unwrap_or_else(|e| panic!("enabling the memory controller below {root:?}: {e}"));
        let path = root.join(format!("kvfs-{name}.{}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("creating cgroup {path:?}: {e}"));
        MemoryCgroup { path, hierarchy }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets `memory.max`, the most memory the cgroup may be charged
    /// (`16M`, `max`).
    pub fn set_memory_max(&self, max: &str) {
        let file = self.path.join("memory.max");
        fs::write(&file, max).unwrap_or_else(|e| panic!("writing {max:?} to {file:?}: {e}"));
    }

    /// The bytes of memory charged to the cgroup now.
    pub fn memory_current(&self) -> u64 {
        let text = fs::read_to_string(self.path.join("memory.current")).unwrap();
        text.trim().parse().unwrap()
    }

    /// A named counter of `memory.events` (`max`, `oom`, `oom_kill`).
    pub fn memory_event(&self, name: &str) -> u64 {
        let text = fs::read_to_string(self.path.join("memory.events")).unwrap();
        text.lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(key, _)| *key == name)
            .map(|(_, count)| count.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("no {name:?} in memory.events:\n{text}"))
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.path) {
            eprintln!("removing cgroup {:?}: {e}", self.path);
        }
        if let Some(dir) = &self.hierarchy {
            let _ = Command::new("umount").arg(dir.path()).status();
        }
    }
}
