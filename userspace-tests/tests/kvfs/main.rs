//! Userspace tests of kvfs: real programs and system calls against a mounted
//! store. They run inside the test VM, where `KVFS_MOUNT` names the mount;
//! each test works in a namespace of its own, so they run in parallel.

mod common;

mod copy;
mod delete;
mod events;
mod faults;
mod get;
mod hostile;
mod limits;
mod metadata;
mod model;
mod mounts;
mod namespaces;
mod permissions;
mod put;
mod python;
mod rename;
mod shell;
mod std_fs;
mod stress;
mod unsupported;
