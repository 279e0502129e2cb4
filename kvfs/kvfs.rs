// SPDX-License-Identifier: GPL-2.0

//! kvfs: a key-value store in kernel memory, shared by the processes of one
//! machine and used through a filesystem.
//!
//! Each mount is one store. A regular file is a key and its content the
//! value; directories are namespaces. A put is a write that becomes visible,
//! whole and at once, when its descriptor is closed or synced; a get is a
//! read of the version that was current when the key was opened; a delete is
//! an unlink. docs/semantics.md is the full contract.
//!
//! The module is layered: `vfs` is the only code that touches the kernel's C
//! API, `store` decides what put, get and delete mean, and `limits` and
//! `options` are plain logic shared with the host-side unit tests.

use kernel::prelude::*;

mod limits;
mod options;
mod store;
mod vfs;

module! {
    type: Kvfs,
    name: "kvfs",
    author: "The kvfs developers",
    description: "Key-value store in kernel memory, used as a filesystem",
    license: "GPL",
}

struct Kvfs {
    _registration: vfs::Registration,
}

impl kernel::Module for Kvfs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registration = vfs::Registration::new()?;
        pr_info!("loaded, filesystem type kvfs registered\n");
        Ok(Kvfs {
            _registration: registration,
        })
    }
}

impl Drop for Kvfs {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
