//! The workloads: puts, gets, deletes and a 90/10 mix by value size; gets
//! and puts by thread count and key layout; gets against store size; kernel
//! memory per key; readdir of a large namespace; Redis GET and SET; and the
//! gets that are profiled under `perf`.
//!
//! Each works in a namespace of its own under the store's mount point and
//! removes what it made, except the large namespace of the store-size
//! workload, which the profiles read and the unmount frees (deleting a
//! million keys under emulation would take as long again).

use crate::measure::{measure, measure_threads, Budget, Outcome, Rng, Stats};
use crate::meminfo::MemInfo;
use crate::ops::{self, KeyPath};
use crate::profile::{self, Comparison, Gets, Sampled};
use crate::redis;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One store under test: a name for the report and its mount point.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pub(crate) name: String,
    pub(crate) root: PathBuf,
}

/// The single-threaded operations measured by value size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Put,
    Get,
    Delete,
    Mix,
}

impl Op {
    pub(crate) const ALL: [Op; 4] = [Op::Put, Op::Get, Op::Delete, Op::Mix];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Delete => "delete",
            Op::Mix => "90/10 get/put",
        }
    }
}

/// Where the threads of a multi-threaded run put their keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Distinct keys, all in one namespace.
    OneDir,
    /// Distinct keys, one namespace per thread.
    DirPerThread,
    /// Every thread on the same key.
    SharedKey,
}

impl Layout {
    pub(crate) const ALL: [Layout; 3] = [Layout::OneDir, Layout::DirPerThread, Layout::SharedKey];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Layout::OneDir => "distinct keys, one namespace",
            Layout::DirPerThread => "distinct keys, namespace per thread",
            Layout::SharedKey => "one shared key",
        }
    }
}

pub(crate) struct ValueSizeRow {
    pub(crate) store: String,
    pub(crate) op: Op,
    pub(crate) size: usize,
    pub(crate) outcome: Outcome,
}

pub(crate) struct ThreadRow {
    pub(crate) store: String,
    pub(crate) op: Op,
    pub(crate) layout: Layout,
    pub(crate) threads: usize,
    pub(crate) outcome: Outcome,
}

pub(crate) struct StoreSizeRow {
    pub(crate) store: String,
    /// The size this step aimed for.
    pub(crate) target: u64,
    /// The size reached; below `target` when populating ran out of time or
    /// failed.
    pub(crate) keys: u64,
    /// Time spent populating from the previous step to this one.
    pub(crate) populate: Duration,
    pub(crate) populate_error: Option<String>,
    pub(crate) outcome: Outcome,
}

pub(crate) struct MemoryRow {
    pub(crate) store: String,
    pub(crate) keys: u64,
    pub(crate) delta: Result<MemInfo, String>,
    /// Listings per second of the namespace holding the keys.
    pub(crate) readdir: Outcome,
    pub(crate) create: Duration,
    pub(crate) delete: Duration,
}

pub(crate) struct RedisRow {
    pub(crate) command: &'static str,
    pub(crate) size: usize,
    pub(crate) outcome: Outcome,
}

/// A value of `size` bytes that is not all one byte.
pub(crate) fn value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// How many keys a ring of `size`-byte values has: enough to spread over a
/// namespace, few enough to stay within 16 MiB.
fn ring_len(size: usize) -> usize {
    (16 << 20) / size.max(1)
}

fn fresh_dir(store: &Store, name: &str) -> io::Result<PathBuf> {
    let dir = store.root.join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir(&dir)?;
    Ok(dir)
}

fn keys(dir: &Path, prefix: &str, n: usize) -> Vec<KeyPath> {
    (0..n)
        .map(|i| KeyPath::new(&dir.join(format!("{prefix}{i}"))))
        .collect()
}

fn put_all(keys: &[KeyPath], value: &[u8]) -> io::Result<()> {
    keys.iter().try_for_each(|key| ops::put(key, value))
}

fn checked_get(key: &KeyPath, buf: &mut [u8]) -> io::Result<()> {
    let n = ops::get(key, buf)?;
    if n != buf.len() {
        let what = format!("a get returned {n} bytes, not {}", buf.len());
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, what));
    }
    Ok(())
}

/// Puts, gets, deletes and the mix on one store with values of `size`.
pub(crate) fn by_value_size(store: &Store, size: usize, budget: Budget) -> Vec<ValueSizeRow> {
    let row = |op, outcome| ValueSizeRow {
        store: store.name.clone(),
        op,
        size,
        outcome,
    };
    let dir = match fresh_dir(store, "by-value-size") {
        Ok(dir) => dir,
        Err(e) => return Op::ALL.map(|op| row(op, Err(e.to_string()))).into(),
    };
    let value = value(size);
    let ring = keys(&dir, "k", ring_len(size).clamp(16, 1000));
    let mut buf = vec![0u8; size];
    let mut rows = Vec::new();

    let outcome = measure(
        budget,
        |_| Ok(()),
        |i| ops::put(&ring[i as usize % ring.len()], &value).map(|_| true),
    );
    rows.push(row(Op::Put, outcome));

    let outcome = put_all(&ring, &value)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            let mut rng = Rng::new(1);
            measure(
                budget,
                |_| Ok(()),
                |_| {
                    let key = &ring[rng.below(ring.len() as u64) as usize];
                    checked_get(key, &mut buf).map(|_| true)
                },
            )
        });
    rows.push(row(Op::Get, outcome));

    let mut rng = Rng::new(2);
    let outcome = measure(
        budget,
        |_| Ok(()),
        |i| {
            let key = &ring[rng.below(ring.len() as u64) as usize];
            if i % 10 == 9 {
                ops::put(key, &value)?;
            } else {
                checked_get(key, &mut buf)?;
            }
            Ok(true)
        },
    );
    rows.push(row(Op::Mix, outcome));

    let doomed = keys(&dir, "d", ring_len(size).clamp(16, 2000));
    let outcome = measure(
        budget,
        |_| put_all(&doomed, &value),
        |i| match doomed.get(i as usize) {
            Some(key) => ops::delete(key).map(|_| true),
            None => Ok(false),
        },
    );
    rows.push(row(Op::Delete, outcome));

    if let Err(e) = fs::remove_dir_all(&dir) {
        eprintln!("bench: cleaning {}: {e}", dir.display());
    }
    rows
}

/// Gets or puts of `size`-byte values from `threads` threads at once.
pub(crate) fn by_threads(
    store: &Store,
    op: Op,
    layout: Layout,
    threads: usize,
    size: usize,
    budget: Budget,
) -> ThreadRow {
    let outcome = threaded(store, op, layout, threads, size, budget);
    ThreadRow {
        store: store.name.clone(),
        op,
        layout,
        threads,
        outcome,
    }
}

fn threaded(
    store: &Store,
    op: Op,
    layout: Layout,
    threads: usize,
    size: usize,
    budget: Budget,
) -> Outcome {
    const KEYS_PER_THREAD: usize = 64;
    let dir = fresh_dir(store, "by-threads").map_err(|e| e.to_string())?;
    let value = value(size);
    let mut rings = Vec::new();
    for t in 0..threads {
        let ring = match layout {
            Layout::OneDir => keys(&dir, &format!("t{t}-"), KEYS_PER_THREAD),
            Layout::DirPerThread => {
                let own = dir.join(format!("t{t}"));
                fs::create_dir(&own).map_err(|e| e.to_string())?;
                keys(&own, "k", KEYS_PER_THREAD)
            }
            Layout::SharedKey => keys(&dir, "shared", 1),
        };
        put_all(&ring, &value).map_err(|e| format!("setup: {e}"))?;
        rings.push(ring);
    }
    let outcome = measure_threads(budget, threads, |t| {
        let ring = &rings[t];
        let value = &value;
        let mut buf = vec![0u8; size];
        let mut rng = Rng::new(t as u64 + 1);
        move |_| {
            let key = &ring[rng.below(ring.len() as u64) as usize];
            match op {
                Op::Put => ops::put(key, value),
                _ => checked_get(key, &mut buf),
            }
        }
    });
    if let Err(e) = fs::remove_dir_all(&dir) {
        eprintln!("bench: cleaning {}: {e}", dir.display());
    }
    outcome
}

/// The namespace of the store-size workload, left in place for the profiles.
const STORE_SIZE_DIR: &str = "by-store-size";

/// Key `i` of a large namespace: `k0000000`, `k0000001`, ...
fn big_key(dir: &Path, i: u64) -> KeyPath {
    KeyPath::new(&dir.join(format!("k{i:07}")))
}

/// Gets of 16-byte values at random keys as the store grows through
/// `steps` keys, populating for at most `populate_limit` in all.
pub(crate) fn by_store_size(
    store: &Store,
    steps: &[u64],
    populate_limit: Duration,
    budget: Budget,
) -> Vec<StoreSizeRow> {
    let mut rows = Vec::new();
    let dir = match fresh_dir(store, STORE_SIZE_DIR) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("bench: {}: {e}", store.name);
            return rows;
        }
    };
    let value = value(16);
    let started = Instant::now();
    let mut keys = 0u64;
    for &target in steps {
        let step_start = Instant::now();
        let mut populate_error = None;
        while keys < target {
            if keys.is_multiple_of(1024) && started.elapsed() > populate_limit {
                populate_error = Some(format!(
                    "stopped populating after the {} s limit",
                    populate_limit.as_secs()
                ));
                break;
            }
            if let Err(e) = ops::put(&big_key(&dir, keys), &value) {
                populate_error = Some(format!("put {keys} failed: {e}"));
                break;
            }
            keys += 1;
        }
        let populate = step_start.elapsed();
        eprintln!(
            "bench: {}: {keys} keys after {:.1} s of populating",
            store.name,
            populate.as_secs_f64()
        );
        let mut rng = Rng::new(3);
        let mut buf = [0u8; 16];
        let outcome = if keys == 0 {
            Err("no keys".to_string())
        } else {
            measure(
                budget,
                |_| Ok(()),
                |_| checked_get(&big_key(&dir, rng.below(keys)), &mut buf).map(|_| true),
            )
        };
        let stop = populate_error.is_some();
        rows.push(StoreSizeRow {
            store: store.name.clone(),
            target,
            keys,
            populate,
            populate_error,
            outcome,
        });
        if stop {
            break;
        }
    }
    rows
}

/// Kernel memory for `n` keys of 16 bytes, then readdir of their namespace,
/// then their deletion.
pub(crate) fn memory_and_readdir(store: &Store, n: u64, reps: usize) -> MemoryRow {
    let mut row = MemoryRow {
        store: store.name.clone(),
        keys: n,
        delta: Err("not measured".into()),
        readdir: Err("not measured".into()),
        create: Duration::ZERO,
        delete: Duration::ZERO,
    };
    let dir = match fresh_dir(store, "memory") {
        Ok(dir) => dir,
        Err(e) => {
            row.delta = Err(e.to_string());
            return row;
        }
    };
    let value = value(16);
    let keys: Vec<KeyPath> = (0..n).map(|i| big_key(&dir, i)).collect();
    let reading = || -> io::Result<MemInfo> {
        ops::drop_caches()?;
        MemInfo::read()
    };

    row.delta = (|| {
        let before = reading()?;
        let start = Instant::now();
        put_all(&keys, &value)?;
        row.create = start.elapsed();
        let after = reading()?;
        Ok(after.since(&before))
    })()
    .map_err(|e: io::Error| e.to_string());

    if row.delta.is_ok() {
        let mut rates = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            match fs::read_dir(&dir).and_then(|d| d.map(|e| e.map(|_| ())).count_ok()) {
                Ok(entries) if entries as u64 == n => {
                    rates.push(n as f64 / start.elapsed().as_secs_f64());
                }
                Ok(entries) => {
                    rates.clear();
                    row.readdir = Err(format!("readdir listed {entries} of {n} keys"));
                    break;
                }
                Err(e) => {
                    rates.clear();
                    row.readdir = Err(e.to_string());
                    break;
                }
            }
        }
        if !rates.is_empty() {
            row.readdir = Ok(Stats::of(rates));
        }
    }

    let start = Instant::now();
    for key in &keys {
        // Keys that were never created (a failed put) are not there to
        // delete; the error already is in the row.
        let _ = ops::delete(key);
    }
    row.delete = start.elapsed();
    if let Err(e) = fs::remove_dir(&dir) {
        eprintln!("bench: cleaning {}: {e}", dir.display());
    }
    row
}

/// Counts the items of an iterator of results, stopping at the first error.
trait CountOk {
    fn count_ok(self) -> io::Result<usize>;
}

impl<I: Iterator<Item = io::Result<()>>> CountOk for I {
    fn count_ok(self) -> io::Result<usize> {
        let mut n = 0;
        for item in self {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

/// Redis SET and GET with one client, with values of `size`.
pub(crate) fn redis(client: &mut redis::Client, size: usize, budget: Budget) -> Vec<RedisRow> {
    let value = value(size);
    let ring: Vec<Vec<u8>> = (0..ring_len(size).clamp(16, 1000))
        .map(|i| format!("bench:{size}:{i}").into_bytes())
        .collect();
    let set = measure(
        budget,
        |_| Ok(()),
        |i| {
            client
                .set(&ring[i as usize % ring.len()], &value)
                .map(|_| true)
        },
    );
    let mut rng = Rng::new(1);
    let mut buf = Vec::with_capacity(size + 2);
    let get = ring
        .iter()
        .try_for_each(|key| client.set(key, &value))
        .map_err(|e| format!("setup: {e}"))
        .and_then(|_| {
            measure(
                budget,
                |_| Ok(()),
                |_| {
                    let key = &ring[rng.below(ring.len() as u64) as usize];
                    match client.get(key, &mut buf)? {
                        true if buf.len() == size => Ok(true),
                        _ => Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "GET returned a missing or short value",
                        )),
                    }
                },
            )
        });
    vec![
        RedisRow {
            command: "SET",
            size,
            outcome: set,
        },
        RedisRow {
            command: "GET",
            size,
            outcome: get,
        },
    ]
}

/// Gets profiled under `perf` (see `profile.rs`): 1-KiB gets on kvfs and on
/// tmpfs, and 16-B gets on kvfs from a namespace of 1000 keys and from the
/// store-size workload's largest namespace, which must still be in place.
/// Each side is profiled in [`PROFILE_ROUNDS`] runs, alternating with the
/// other side's, and its runs' samples are added up.
pub(crate) fn profiles(
    perf: &Path,
    stores: &[Store],
    store_size: &[StoreSizeRow],
) -> Vec<Comparison> {
    const OPS: u64 = 100_000;
    const SMALL: u64 = 1000;
    let find = |name: &str| stores.iter().find(|s| s.name == name);
    let mut comparisons = Vec::new();

    if let (Some(kvfs), Some(tmpfs)) = (find("kvfs"), find("tmpfs")) {
        let size = 1 << 10;
        let gets = |store: &Store| {
            small_namespace(store, SMALL, size).map(|dir| Gets {
                dir,
                keys: SMALL,
                size,
                ops: OPS,
                threads: 1,
            })
        };
        let (base, other) = (gets(tmpfs), gets(kvfs));
        let (base, other) = alternate(perf, ["tmpfs", "kvfs"], base, other);
        comparisons.push(Comparison {
            title: "A 1-KiB get on kvfs and on tmpfs".into(),
            about: format!(
                "Gets of 1-KiB values at random keys of a namespace of {SMALL} keys, on \
                 each store, {PROFILE_ROUNDS} runs of {OPS} gets each."
            ),
            base_name: "tmpfs".into(),
            other_name: "kvfs".into(),
            base,
            other,
        });
        let threads = |threads| {
            Ok(Gets {
                dir: kvfs.root.join(PROFILE_DIR),
                keys: SMALL,
                size,
                ops: OPS,
                threads,
            })
        };
        let (base, other) = alternate(perf, ["kvfs-1", "kvfs-2"], threads(1), threads(2));
        comparisons.push(Comparison {
            title: "A 1-KiB get on kvfs from 1 thread and from 2 threads".into(),
            about: format!(
                "The kvfs gets above, {PROFILE_ROUNDS} runs of {OPS} gets each, from one \
                 thread and from two threads at once, each thread on keys of its own in \
                 the one namespace. The time per get is CPU time, summed over the \
                 threads, so with perfect scaling the two columns would be equal. Under \
                 TCG a vCPU whose host thread waits for a host core still sees its clock \
                 run, so a host short of cores shows as growth spread over every \
                 function, and contention inside the guest as growth in the functions \
                 that contend."
            ),
            base_name: "1 thread".into(),
            other_name: "2 threads".into(),
            base,
            other,
        });
        for store in [tmpfs, kvfs] {
            let _ = fs::remove_dir_all(store.root.join(PROFILE_DIR));
        }
    }

    let big = store_size
        .iter()
        .rfind(|r| r.store == "kvfs" && r.keys > SMALL);
    if let (Some(kvfs), Some(big)) = (find("kvfs"), big) {
        let size = 16;
        let small = small_namespace(kvfs, SMALL, size).map(|dir| Gets {
            dir,
            keys: SMALL,
            size,
            ops: OPS,
            threads: 1,
        });
        let large = Ok(Gets {
            dir: kvfs.root.join(STORE_SIZE_DIR),
            keys: big.keys,
            size,
            ops: OPS,
            threads: 1,
        });
        let (base, other) = alternate(perf, ["kvfs-small", "kvfs-big"], small, large);
        comparisons.push(Comparison {
            title: format!("A 16-B get on kvfs: {SMALL} keys and {} keys", big.keys),
            about: format!(
                "Gets of 16-B values at random keys, of a namespace of {SMALL} keys made \
                 for this profile and of the store-size workload's namespace of {} keys, \
                 {PROFILE_ROUNDS} runs of {OPS} gets each. Both namespaces are in the same \
                 store at the same time, so the dentry cache holds the large one's \
                 entries in both runs: this shows what a get pays for touching one key \
                 among many rather than among a few.",
                big.keys
            ),
            base_name: format!("{SMALL} keys"),
            other_name: format!("{} keys", big.keys),
            base,
            other,
        });
        let _ = fs::remove_dir_all(kvfs.root.join(PROFILE_DIR));
    }
    comparisons
}

/// How many runs each side of a profile comparison takes.
const PROFILE_ROUNDS: usize = 2;

/// The namespace that profiles make their small sets of keys in.
const PROFILE_DIR: &str = "profile";

/// Profiles `base` and `other` in turn, [`PROFILE_ROUNDS`] times each.
fn alternate(
    perf: &Path,
    labels: [&str; 2],
    base: Result<Gets, String>,
    other: Result<Gets, String>,
) -> (Result<Sampled, String>, Result<Sampled, String>) {
    let mut sides = [base, other].map(|gets| gets.map(|gets| (gets, Vec::new())));
    for _ in 0..PROFILE_ROUNDS {
        for (side, label) in sides.iter_mut().zip(labels) {
            if let Ok((gets, runs)) = side {
                runs.push(profile::sample(perf, label, gets));
            }
        }
    }
    sides
        .map(|side| {
            let (_, runs) = side?;
            let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
            runs.into_iter()
                .reduce(Sampled::add)
                .ok_or_else(|| "no run".to_string())
        })
        .into()
}

/// A fresh namespace `profile` in `store` with `keys` keys of `size` bytes,
/// named as [`Gets`] expects.
fn small_namespace(store: &Store, keys: u64, size: usize) -> Result<PathBuf, String> {
    let dir = fresh_dir(store, PROFILE_DIR).map_err(|e| e.to_string())?;
    let value = value(size);
    for i in 0..keys {
        ops::put(&big_key(&dir, i), &value).map_err(|e| format!("setup: {e}"))?;
    }
    Ok(dir)
}
