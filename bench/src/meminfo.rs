//! Readings of `/proc/meminfo`: the fields that tell where kernel memory for
//! keys goes (slab for inodes, dentries and kvfs's values; page cache for
//! tmpfs and ramfs pages).

use std::io;

/// The fields of one reading, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemInfo {
    pub(crate) mem_free: i64,
    pub(crate) cached: i64,
    pub(crate) shmem: i64,
    pub(crate) slab: i64,
    pub(crate) sunreclaim: i64,
}

impl MemInfo {
    pub(crate) fn read() -> io::Result<MemInfo> {
        let text = std::fs::read_to_string("/proc/meminfo")?;
        let mut info = MemInfo::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(name), Some(kib)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(kib) = kib.parse::<i64>() else {
                continue;
            };
            match name {
                "MemFree:" => info.mem_free = kib,
                "Cached:" => info.cached = kib,
                "Shmem:" => info.shmem = kib,
                "Slab:" => info.slab = kib,
                "SUnreclaim:" => info.sunreclaim = kib,
                _ => {}
            }
        }
        Ok(info)
    }

    /// What changed from `before` to `self`.
    pub(crate) fn since(&self, before: &MemInfo) -> MemInfo {
        MemInfo {
            mem_free: self.mem_free - before.mem_free,
            cached: self.cached - before.cached,
            shmem: self.shmem - before.shmem,
            slab: self.slab - before.slab,
            sunreclaim: self.sunreclaim - before.sunreclaim,
        }
    }

    /// Kernel memory held for the keys: slab plus page cache (which
    /// includes the shmem pages of tmpfs and the pages of ramfs), in KiB.
    pub(crate) fn kernel_kib(&self) -> i64 {
        self.slab + self.cached
    }
}

/// The total memory of this machine, in KiB.
pub(crate) fn mem_total_kib() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
