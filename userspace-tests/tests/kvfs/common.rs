//! Setup shared by every test: where kvfs is mounted, a private namespace
//! per test, and assertions that print enough to debug a failure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use walkdir::WalkDir;

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
        for entry in WalkDir::new(self.path()).min_depth(1) {
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
        text
    }
}
