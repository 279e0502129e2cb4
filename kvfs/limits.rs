// SPDX-License-Identifier: GPL-2.0

//! Limit accounting for one kvfs store: how many keys it holds and how many
//! value bytes they take, checked against the limits of its mount.
//!
//! This file uses only `core`, so the same code runs in the kernel module and
//! in the host-side unit tests. Counters are atomics updated with
//! compare-and-exchange, so there is no lock shared between keys; a limit is
//! never exceeded, even by racing commits, because a reservation only
//! succeeds if the new total fits.

use core::sync::atomic::{AtomicU64, Ordering};

/// The limits of one store. Zero in a field means "no limit" only where the
/// field's documentation says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most keys (regular files) the store may hold.
    pub(crate) max_keys: u64,
    /// Most value bytes, summed over every key's committed value.
    pub(crate) max_bytes: u64,
    /// Largest single value, in bytes.
    pub(crate) max_value: u64,
}

/// The limits of a mounted store, readable without a lock by every commit
/// and changed as a whole by a remount.
#[derive(Debug)]
pub(crate) struct SharedLimits {
    max_keys: AtomicU64,
    max_bytes: AtomicU64,
    max_value: AtomicU64,
}

impl SharedLimits {
    /// Starts with `limits`.
    pub(crate) const fn new(limits: Limits) -> Self {
        Self {
            max_keys: AtomicU64::new(limits.max_keys),
            max_bytes: AtomicU64::new(limits.max_bytes),
            max_value: AtomicU64::new(limits.max_value),
        }
    }

    /// The limits in force now.
    pub(crate) fn load(&self) -> Limits {
        Limits {
            max_keys: self.max_keys.load(Ordering::Relaxed),
            max_bytes: self.max_bytes.load(Ordering::Relaxed),
            max_value: self.max_value.load(Ordering::Relaxed),
        }
    }

    /// Puts `limits` in force if what `usage` holds fits within them;
    /// otherwise nothing changes and the limits in force are kept.
    pub(crate) fn replace(&self, limits: Limits, usage: &Usage) -> Result<(), Refusal> {
        let old = self.load();
        self.store(limits);
        // A commit racing with this sees either the old or the new limits;
        // checking after the switch catches any that got in under the old.
        if usage.keys() > limits.max_keys || usage.bytes() > limits.max_bytes {
            self.store(old);
            return Err(Refusal::StoreFull);
        }
        Ok(())
    }

    fn store(&self, limits: Limits) {
        self.max_keys.store(limits.max_keys, Ordering::Relaxed);
        self.max_bytes.store(limits.max_bytes, Ordering::Relaxed);
        self.max_value.store(limits.max_value, Ordering::Relaxed);
    }
}

/// Why a reservation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// One value would be larger than `max_value` (EFBIG).
    ValueTooLarge,
    /// The store would hold more than `max_bytes` or `max_keys` (ENOSPC).
    StoreFull,
}

/// Live use of one store.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    keys: AtomicU64,
    bytes: AtomicU64,
}

impl Usage {
    /// Creates the usage of an empty store.
    pub(crate) const fn new() -> Self {
        Self {
            keys: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Number of keys now held.
    pub(crate) fn keys(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
    }

    /// Number of committed value bytes now held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Takes one key slot, if `limits` allow another key.
    pub(crate) fn reserve_key(&self, limits: &Limits) -> Result<(), Refusal> {
        add_within(&self.keys, 1, limits.max_keys)
    }

    /// Gives back one key slot.
    pub(crate) fn release_key(&self) {
        self.keys.fetch_sub(1, Ordering::Relaxed);
    }

    /// Accounts for a value of `old` bytes being replaced by one of `new`
    /// bytes. Growth is checked against `limits`; shrinking always succeeds.
    pub(crate) fn resize_value(&self, old: u64, new: u64, limits: &Limits) -> Result<(), Refusal> {
        if new > limits.max_value {
            return Err(Refusal::ValueTooLarge);
        }
        if new >= old {
            add_within(&self.bytes, new - old, limits.max_bytes)
        } else {
            self.bytes.fetch_sub(old - new, Ordering::Relaxed);
            Ok(())
        }
    }

    /// Gives back the bytes of a value that is no longer held.
    pub(crate) fn release_value(&self, len: u64) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

/// Adds `amount` to `counter` unless the sum would exceed `max`.
fn add_within(counter: &AtomicU64, amount: u64, max: u64) -> Result<(), Refusal> {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            now.checked_add(amount).filter(|&sum| sum <= max)
        })
        .map(|_| ())
        .map_err(|_| Refusal::StoreFull)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_keys: 2,
        max_bytes: 100,
        max_value: 60,
    };

    #[test]
    fn keys_stop_at_max_keys() {
        let usage = Usage::new();
        assert_eq!(usage.reserve_key(&LIMITS), Ok(()));
        assert_eq!(usage.reserve_key(&LIMITS), Ok(()));
        assert_eq!(usage.reserve_key(&LIMITS), Err(Refusal::StoreFull));
        assert_eq!(usage.keys(), 2);
        usage.release_key();
        assert_eq!(usage.reserve_key(&LIMITS), Ok(()));
    }

    #[test]
    fn a_value_at_max_value_fits_and_one_byte_more_does_not() {
        let usage = Usage::new();
        assert_eq!(usage.resize_value(0, 60, &LIMITS), Ok(()));
        assert_eq!(
            usage.resize_value(60, 61, &LIMITS),
            Err(Refusal::ValueTooLarge)
        );
        assert_eq!(usage.bytes(), 60);
    }

    #[test]
    fn total_bytes_stop_at_max_bytes_and_nothing_changes_on_refusal() {
        let usage = Usage::new();
        assert_eq!(usage.resize_value(0, 60, &LIMITS), Ok(()));
        assert_eq!(usage.resize_value(0, 40, &LIMITS), Ok(()));
        assert_eq!(usage.resize_value(0, 1, &LIMITS), Err(Refusal::StoreFull));
        assert_eq!(usage.bytes(), 100);
    }

    #[test]
    fn shrinking_always_succeeds_and_frees_bytes() {
        let usage = Usage::new();
        assert_eq!(usage.resize_value(0, 60, &LIMITS), Ok(()));
        assert_eq!(usage.resize_value(60, 10, &LIMITS), Ok(()));
        assert_eq!(usage.bytes(), 10);
        usage.release_value(10);
        assert_eq!(usage.bytes(), 0);
    }

    #[test]
    fn limits_below_current_use_are_refused_and_kept() {
        let usage = Usage::new();
        let shared = SharedLimits::new(LIMITS);
        assert_eq!(usage.reserve_key(&LIMITS), Ok(()));
        assert_eq!(usage.resize_value(0, 50, &LIMITS), Ok(()));
        let smaller = Limits {
            max_bytes: 49,
            ..LIMITS
        };
        assert_eq!(shared.replace(smaller, &usage), Err(Refusal::StoreFull));
        assert_eq!(shared.load(), LIMITS);
        let enough = Limits {
            max_bytes: 50,
            max_keys: 1,
            ..LIMITS
        };
        assert_eq!(shared.replace(enough, &usage), Ok(()));
        assert_eq!(shared.load(), enough);
    }

    #[test]
    fn racing_reservations_never_exceed_the_limit() {
        use std::sync::Arc;
        let usage = Arc::new(Usage::new());
        let limits = Limits {
            max_keys: 1000,
            max_bytes: 1000,
            max_value: 1000,
        };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let usage = Arc::clone(&usage);
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| usage.resize_value(0, 1, &limits).is_ok())
                        .count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 1000);
        assert_eq!(usage.bytes(), 1000);
    }
}
