//! kvfs-bench: measures kvfs against tmpfs, ramfs and Redis on one machine
//! and writes a Markdown report (`benchmarks.md`) with two SVG plots.
//!
//! Usage:
//!
//!     kvfs-bench --store kvfs=/mnt/kvfs --store tmpfs=/mnt/tmpfs \
//!         --store ramfs=/mnt/ramfs --redis /tmp/redis.sock --out DIR \
//!         [--host-info FILE] [--reps 5] [--seconds 0.4] [--big-keys 1000000] \
//!         [--big-stores kvfs] [--populate-limit 600] [--memory-keys 100000] \
//!         [--perf /usr/bin/perf]
//!
//! The stores must be mounted and empty enough to hold the workloads; the
//! memory workload drops the page cache, so it needs root. `make bench` runs
//! it inside the test VM (`scripts/bench-guest.sh`). Goals are judged on
//! ratios within the run; see `report.rs`. With `--perf`, some gets are
//! also profiled (`profile.rs`); `kvfs-bench profile-child` is the process
//! that profile runs. It does not pin threads to CPUs
//! and does not isolate itself from other activity on the machine.

mod measure;
mod meminfo;
mod ops;
mod profile;
mod redis;
mod report;
mod svg;
mod workloads;

use measure::{Budget, Outcome};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workloads::{Layout, MemoryRow, Op, RedisRow, Store, StoreSizeRow, ThreadRow, ValueSizeRow};

/// What to measure and how long.
pub(crate) struct Config {
    pub(crate) stores: Vec<Store>,
    pub(crate) redis: Option<PathBuf>,
    pub(crate) out: PathBuf,
    pub(crate) host_info: Option<PathBuf>,
    pub(crate) budget: Budget,
    pub(crate) sizes: Vec<usize>,
    pub(crate) threads: Vec<usize>,
    pub(crate) thread_value_size: usize,
    pub(crate) big_keys: u64,
    pub(crate) big_stores: Vec<String>,
    pub(crate) populate_limit: Duration,
    pub(crate) memory_keys: u64,
    /// The `perf` program that profiles gets; no profiles without it.
    pub(crate) perf: Option<PathBuf>,
    /// Sentences for the report on how the store-size workload was cut.
    pub(crate) store_size_notes: Vec<String>,
}

/// Everything one run measured.
pub(crate) struct Run {
    pub(crate) config: Config,
    pub(crate) host_info: Vec<String>,
    pub(crate) guest_info: Vec<String>,
    pub(crate) guest_cpus: usize,
    pub(crate) value_size: Vec<ValueSizeRow>,
    pub(crate) redis: Vec<RedisRow>,
    pub(crate) redis_error: Option<String>,
    pub(crate) threads: Vec<ThreadRow>,
    pub(crate) store_size: Vec<StoreSizeRow>,
    pub(crate) memory: Vec<MemoryRow>,
    pub(crate) profiles: Vec<profile::Comparison>,
    pub(crate) elapsed: Duration,
}

fn usage(error: &str) -> String {
    format!(
        "kvfs-bench: {error}\nusage: kvfs-bench --store NAME=PATH... [--redis SOCKET] --out DIR \
         [--host-info FILE] [--reps N] [--seconds S] [--big-keys N] [--big-stores A,B] \
         [--populate-limit S] [--memory-keys N] [--perf PATH]"
    )
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        stores: Vec::new(),
        redis: None,
        out: PathBuf::new(),
        host_info: None,
        budget: Budget {
            reps: 5,
            per_rep: Duration::from_millis(400),
            min_ops: 3,
        },
        sizes: vec![16, 1 << 10, 64 << 10, 1 << 20],
        threads: vec![1, 2, 4],
        thread_value_size: 1 << 10,
        big_keys: 1_000_000,
        big_stores: vec!["kvfs".into()],
        populate_limit: Duration::from_secs(600),
        memory_keys: 100_000,
        perf: None,
        store_size_notes: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let number = |text: String| {
            text.parse::<f64>()
                .map_err(|_| usage(&format!("{flag}: not a number: {text}")))
        };
        match flag.as_str() {
            "--store" => {
                let spec = value()?;
                let (name, path) = spec
                    .split_once('=')
                    .ok_or_else(|| usage(&format!("--store {spec}: expected NAME=PATH")))?;
                config.stores.push(Store {
                    name: name.into(),
                    root: path.into(),
                });
            }
            "--redis" => config.redis = Some(value()?.into()),
            "--out" => config.out = value()?.into(),
            "--host-info" => config.host_info = Some(value()?.into()),
            "--reps" => config.budget.reps = number(value()?)?.max(1.0) as usize,
            "--seconds" => config.budget.per_rep = Duration::from_secs_f64(number(value()?)?),
            "--big-keys" => config.big_keys = number(value()?)? as u64,
            "--big-stores" => {
                config.big_stores = value()?.split(',').map(String::from).collect();
            }
            "--populate-limit" => {
                config.populate_limit = Duration::from_secs_f64(number(value()?)?);
            }
            "--memory-keys" => config.memory_keys = number(value()?)?.max(1.0) as u64,
            "--perf" => config.perf = Some(value()?.into()),
            _ => return Err(usage(&format!("unknown argument {flag}"))),
        }
    }
    if config.stores.is_empty() {
        return Err(usage("no --store given"));
    }
    if config.out.as_os_str().is_empty() {
        return Err(usage("no --out given"));
    }
    Ok(config)
}

/// The machine the benchmark runs on, one "what: value" line each.
fn guest_info(stores: &[Store]) -> (Vec<String>, usize) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut lines = vec![
        format!("CPU: {model}, {cpus} vCPUs (QEMU, TCG emulation)"),
        format!(
            "memory: {:.1} GiB",
            meminfo::mem_total_kib().unwrap_or(0) as f64 / (1 << 20) as f64
        ),
        format!("kernel: Linux {}", release.trim()),
    ];
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for store in stores {
        let root = store.root.to_string_lossy();
        if let Some(m) = mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(root.as_ref()))
        {
            let fields: Vec<&str> = m.split(' ').collect();
            lines.push(format!(
                "mount: {} at {} ({})",
                fields[2], fields[1], fields[3]
            ));
        }
    }
    (lines, cpus)
}

/// Merges the rows of several rounds into one row per measurement, keyed by
/// `key`, with the repetitions of every round in its outcome.
fn merge_rounds<R, K: PartialEq>(
    rounds: Vec<Vec<R>>,
    key: impl Fn(&R) -> K,
    outcome: impl Fn(&mut R) -> &mut Outcome,
) -> Vec<R> {
    let mut rounds = rounds.into_iter();
    let mut merged = rounds.next().unwrap_or_default();
    for round in rounds {
        for mut row in round {
            let k = key(&row);
            let Some(into) = merged.iter_mut().find(|m| key(m) == k) else {
                merged.push(row);
                continue;
            };
            let both = [outcome(into).clone(), outcome(&mut row).clone()];
            *outcome(into) = measure::merge(both);
        }
    }
    merged
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("profile-child") {
        return profile::child(&args[2..]);
    }
    let config = match parse_args() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let (guest_info, guest_cpus) = guest_info(&config.stores);
    let host_info = config
        .host_info
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    let mut run = Run {
        config,
        host_info,
        guest_info,
        guest_cpus,
        value_size: Vec::new(),
        redis: Vec::new(),
        redis_error: None,
        threads: Vec::new(),
        store_size: Vec::new(),
        memory: Vec::new(),
        profiles: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let c = &mut run.config;
    let budget = c.budget;
    let progress =
        |what: &str| eprintln!("bench: [{:5.0} s] {what}", started.elapsed().as_secs_f64());

    // Each round takes one repetition of every measurement, visiting the
    // stores in turn, so that the stores compared with each other (and the
    // thread counts, below) are measured minutes apart at most and share
    // whatever else the host was doing.
    let once = Budget { reps: 1, ..budget };
    let mut rounds = Vec::new();
    for round in 1..=budget.reps {
        let mut rows = Vec::new();
        for &size in &c.sizes {
            for store in &c.stores {
                progress(&format!(
                    "round {round}/{}: {}: value size {}",
                    budget.reps,
                    store.name,
                    report::size_name(size)
                ));
                rows.extend(workloads::by_value_size(store, size, once));
            }
        }
        rounds.push(rows);
    }
    run.value_size = merge_rounds(
        rounds,
        |r| (r.store.clone(), r.op, r.size),
        |r| &mut r.outcome,
    );

    if let Some(socket) = &c.redis {
        progress("redis");
        match redis::Client::connect(socket, Duration::from_secs(30)) {
            Ok(mut client) => {
                for &size in &c.sizes {
                    run.redis
                        .extend(workloads::redis(&mut client, size, budget));
                }
            }
            Err(e) => run.redis_error = Some(format!("connecting to {}: {e}", socket.display())),
        }
    } else {
        run.redis_error = Some("no --redis socket given".into());
    }

    let mut rounds = Vec::new();
    for round in 1..=budget.reps {
        let mut rows = Vec::new();
        for store in &c.stores {
            for op in [Op::Get, Op::Put] {
                for layout in Layout::ALL {
                    for &threads in &c.threads {
                        progress(&format!(
                            "round {round}/{}: {}: {} {threads} threads, {}",
                            budget.reps,
                            store.name,
                            op.name(),
                            layout.name()
                        ));
                        rows.push(workloads::by_threads(
                            store,
                            op,
                            layout,
                            threads,
                            c.thread_value_size,
                            once,
                        ));
                    }
                }
            }
        }
        rounds.push(rows);
    }
    run.threads = merge_rounds(
        rounds,
        |r| (r.store.clone(), r.op, r.layout, r.threads),
        |r| &mut r.outcome,
    );

    for store in &c.stores {
        progress(&format!(
            "{}: memory and readdir of {} keys",
            store.name, c.memory_keys
        ));
        run.memory.push(workloads::memory_and_readdir(
            store,
            c.memory_keys,
            budget.reps,
        ));
    }

    let small: Vec<String> = c
        .stores
        .iter()
        .filter(|s| !c.big_stores.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    if !small.is_empty() {
        c.store_size_notes.push(format!(
            "{} stop at {} keys: each of their keys holds a whole 4-KiB page for its 16 B, \
             so {} keys would need about {:.1} GiB of page cache, more than a tmpfs or \
             ramfs of this guest can hold beside the other stores. The store-size goal \
             concerns kvfs.",
            small.join(" and "),
            c.memory_keys,
            c.big_keys,
            (c.big_keys * 4096) as f64 / (1u64 << 30) as f64
        ));
    }
    for store in &c.stores {
        let mut steps = vec![1000, c.memory_keys];
        if c.big_stores.contains(&store.name) {
            steps.push(c.big_keys);
        }
        steps.retain(|&s| s > 0);
        steps.dedup();
        progress(&format!("{}: get against store size {steps:?}", store.name));
        run.store_size.extend(workloads::by_store_size(
            store,
            &steps,
            c.populate_limit,
            budget,
        ));
    }

    if let Some(perf) = &c.perf {
        progress("profiles of gets under perf");
        run.profiles = workloads::profiles(perf, &c.stores, &run.store_size);
    }

    run.elapsed = started.elapsed();
    progress("writing the report");
    let outputs = [
        ("benchmarks.md", report::markdown(&run)),
        ("bench-value-size.svg", report::value_size_svg(&run)),
        ("bench-threads.svg", report::threads_svg(&run)),
    ];
    if let Err(e) = std::fs::create_dir_all(&run.config.out) {
        eprintln!("kvfs-bench: {}: {e}", run.config.out.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in outputs {
        let path = run.config.out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("kvfs-bench: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
