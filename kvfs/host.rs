// SPDX-License-Identifier: GPL-2.0

//! The kernel-free parts of the kvfs module, compiled for the host so that
//! their unit tests run with `cargo test`. The module itself is built by
//! Kbuild from kvfs.rs; the files included here are the very same sources,
//! and the kernel build checks that they need nothing beyond `core`.

#[allow(dead_code)]
mod limits;
#[allow(dead_code)]
mod options;
