//! The Markdown report and its two plots, made from one run's results: the
//! goals first, each as a ratio within the run with whether it was met, then
//! every measurement with its median and spread.

use crate::measure::{Outcome, Stats};
use crate::profile::{Comparison, Part, Sampled, PERIOD_NS};
use crate::svg::{Chart, Series};
use crate::workloads::{Layout, MemoryRow, Op, RedisRow, StoreSizeRow, ThreadRow, ValueSizeRow};
use crate::Run;
use std::fmt::Write;

/// A value size as the report prints it.
pub(crate) fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// A rate with thousands separated by thin spaces.
fn rate(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// Median, spread and time per operation, or the error, as table cells.
fn cells(outcome: &Outcome) -> String {
    match outcome {
        Ok(s) => format!(
            "{} | {}–{} | {:.1}",
            rate(s.median),
            rate(s.min),
            rate(s.max),
            1e6 / s.median
        ),
        Err(e) => format!("failed: {} | | ", e.replace('|', "/")),
    }
}

fn median(outcome: &Outcome) -> Option<f64> {
    outcome.as_ref().ok().map(|s: &Stats| s.median)
}

struct Goal {
    what: String,
    measured: String,
    target: String,
    met: Option<bool>,
    /// The same ratio for tmpfs in this run, where the goal is one that
    /// tmpfs can be measured against too.
    tmpfs: Option<String>,
}

impl Goal {
    /// A goal that `numerator / denominator` be at least `at_least`.
    fn ratio(
        what: String,
        numerator: Option<f64>,
        denominator: Option<f64>,
        at_least: f64,
    ) -> Goal {
        let ratio = numerator.zip(denominator).map(|(n, d)| n / d);
        Goal {
            what,
            measured: ratio.map_or("not measured".into(), |r| format!("{r:.2}x")),
            target: format!(">= {at_least}x"),
            met: ratio.map(|r| r >= at_least),
            tmpfs: None,
        }
    }

    /// This goal, with tmpfs's `numerator / denominator` beside it.
    fn with_tmpfs(self, numerator: Option<f64>, denominator: Option<f64>) -> Goal {
        let ratio = numerator.zip(denominator).map(|(n, d)| n / d);
        Goal {
            tmpfs: Some(ratio.map_or("not measured".into(), |r| format!("{r:.2}x"))),
            ..self
        }
    }

    /// A goal that `numerator / denominator` be at most `at_most`.
    fn ratio_at_most(
        what: String,
        numerator: Option<f64>,
        denominator: Option<f64>,
        at_most: f64,
        target: &str,
    ) -> Goal {
        let ratio = numerator.zip(denominator).map(|(n, d)| n / d);
        Goal {
            what,
            measured: ratio.map_or("not measured".into(), |r| format!("{r:.2}x")),
            target: target.into(),
            met: ratio.map(|r| r <= at_most),
            tmpfs: None,
        }
    }
}

fn value_size_median(run: &Run, store: &str, op: Op, size: usize) -> Option<f64> {
    run.value_size
        .iter()
        .find(|r| r.store == store && r.op == op && r.size == size)
        .and_then(|r| median(&r.outcome))
}

fn thread_median(run: &Run, store: &str, op: Op, layout: Layout, threads: usize) -> Option<f64> {
    run.threads
        .iter()
        .find(|r| r.store == store && r.op == op && r.layout == layout && r.threads == threads)
        .and_then(|r| median(&r.outcome))
}

fn redis_median(run: &Run, command: &str, size: usize) -> Option<f64> {
    run.redis
        .iter()
        .find(|r| r.command == command && r.size == size)
        .and_then(|r| median(&r.outcome))
}

/// Kernel bytes per key, if the reading grew: a fall means that something
/// else in the machine freed more than the keys took, and says nothing.
fn bytes_per_key(row: &MemoryRow) -> Option<f64> {
    let delta = row.delta.as_ref().ok()?;
    let kib = delta.kernel_kib();
    (kib > 0).then(|| kib as f64 * 1024.0 / row.keys as f64)
}

fn goals(run: &Run) -> Vec<Goal> {
    let mut goals = Vec::new();
    let small: Vec<usize> = run
        .config
        .sizes
        .iter()
        .copied()
        .filter(|&s| s <= 4096)
        .collect();
    for &size in &small {
        goals.push(Goal::ratio(
            format!("kvfs put / tmpfs put, {}", size_name(size)),
            value_size_median(run, "kvfs", Op::Put, size),
            value_size_median(run, "tmpfs", Op::Put, size),
            1.2,
        ));
    }
    for &size in &small {
        goals.push(Goal::ratio(
            format!("kvfs get / tmpfs get, {}", size_name(size)),
            value_size_median(run, "kvfs", Op::Get, size),
            value_size_median(run, "tmpfs", Op::Get, size),
            1.0,
        ));
    }
    let memory = |store: &str| {
        run.memory
            .iter()
            .find(|r| r.store == store)
            .and_then(bytes_per_key)
    };
    goals.push(Goal::ratio_at_most(
        "kernel memory per 16-B key, kvfs / tmpfs".into(),
        memory("kvfs"),
        memory("tmpfs"),
        1.0 / 3.0,
        "<= 0.33x",
    ));
    let sizes: Vec<&StoreSizeRow> = run
        .store_size
        .iter()
        .filter(|r| r.store == "kvfs")
        .collect();
    if let (Some(first), Some(last)) = (sizes.first(), sizes.last()) {
        // Time per get is the inverse of the rate.
        goals.push(Goal::ratio_at_most(
            format!(
                "kvfs get time at {} keys / at {} keys{}",
                last.keys,
                first.keys,
                if last.keys < last.target {
                    format!(" (the {}-key store was not reached)", last.target)
                } else {
                    String::new()
                }
            ),
            median(&first.outcome),
            median(&last.outcome),
            1.2,
            "<= 1.2x",
        ));
    }
    for op in [Op::Get, Op::Put] {
        for layout in [Layout::OneDir, Layout::DirPerThread] {
            goals.push(
                Goal::ratio(
                    format!(
                        "kvfs {}, 2 threads / 1 thread, {}",
                        op.name(),
                        layout.name()
                    ),
                    thread_median(run, "kvfs", op, layout, 2),
                    thread_median(run, "kvfs", op, layout, 1),
                    1.8,
                )
                .with_tmpfs(
                    thread_median(run, "tmpfs", op, layout, 2),
                    thread_median(run, "tmpfs", op, layout, 1),
                ),
            );
        }
    }
    for &size in &small {
        goals.push(Goal::ratio(
            format!("kvfs get / Redis GET (one client), {}", size_name(size)),
            value_size_median(run, "kvfs", Op::Get, size),
            redis_median(run, "GET", size),
            3.0,
        ));
    }
    goals
}

/// The Markdown text of the report.
pub(crate) fn markdown(run: &Run) -> String {
    let c = &run.config;
    let mut md = String::new();
    let _ = writeln!(md, "# kvfs benchmarks\n");
    let _ = writeln!(
        md,
        "This file is written by `kvfs-bench` (`bench/`); do not edit it by hand. \
         Rerun with\n\n    make bench\n\n\
         which builds the module and `kvfs-bench`, boots the test VM once \
         (`scripts/bench.sh`), mounts kvfs, tmpfs and ramfs side by side and starts \
         `redis-server` on a Unix socket inside it (`scripts/bench-guest.sh`), runs \
         every workload, profiles some gets with `perf`, and copies this report and \
         its plots to `docs/`.\n"
    );
    let _ = writeln!(
        md,
        "**Only ratios within one run mean anything.** The guest runs under \
        QEMU's software emulation (TCG), not KVM: every instruction is translated, a \
        system call costs far more than on hardware, and the host is shared with other \
        work. The absolute numbers below say little about kvfs on real hardware; the \
        ratios between stores measured in the same run, minutes apart, are what the \
        goals are judged on, and even those are noisy.\n"
    );

    let _ = writeln!(md, "## Machine\n");
    for line in &run.host_info {
        let _ = writeln!(md, "- host {line}");
    }
    for line in &run.guest_info {
        let _ = writeln!(md, "- guest {line}");
    }
    let _ = writeln!(
        md,
        "- run: per measurement, {} repetitions of {:.2} s (at least {} operations), each \
         after a warm-up of a quarter of that which is not counted; median and min–max \
         over the repetitions. The value-size and thread measurements take their \
         repetitions in {} rounds, each round visiting every store and thread count in \
         turn, so that the figures a goal compares were taken side by side; the Redis, \
         store-size and memory measurements take theirs one after another. The whole \
         run took {:.0} s\n",
        c.budget.reps,
        c.budget.per_rep.as_secs_f64(),
        c.budget.min_ops,
        c.budget.reps,
        run.elapsed.as_secs_f64()
    );

    let _ = writeln!(md, "## Goals\n");
    let _ = writeln!(
        md,
        "| goal | measured | target | result | tmpfs, same ratio |\n| --- | --- | --- | --- | --- |"
    );
    let goals = goals(run);
    for goal in &goals {
        let result = match goal.met {
            Some(true) => "pass",
            Some(false) => "falls short",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            goal.what,
            goal.measured,
            goal.target,
            result,
            goal.tmpfs.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        md,
        "\nThe last column is the same ratio for tmpfs in this run, where the goal has \
         one: a measure of what the guest and its host allow any filesystem."
    );
    let short: Vec<&Goal> = goals.iter().filter(|g| g.met != Some(true)).collect();
    if short.is_empty() {
        let _ = writeln!(md, "\nEvery goal was met in this run.\n");
    } else {
        let _ = writeln!(md, "\nGoals not met in this run:\n");
        for goal in short {
            let _ = writeln!(
                md,
                "- {}: {} (target {}).",
                goal.what, goal.measured, goal.target
            );
        }
        if !run.profiles.is_empty() {
            let _ = writeln!(
                md,
                "\nThe [profiles](#profiles) at the end show where the time of a get goes \
                 in the comparisons behind these goals."
            );
        }
        let _ = writeln!(md);
    }

    value_size_section(&mut md, run);
    redis_section(&mut md, run);
    threads_section(&mut md, run);
    store_size_section(&mut md, run);
    memory_section(&mut md, run);
    profiles_section(&mut md, run);
    md
}

fn value_size_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Operations by value size\n");
    let _ = writeln!(
        md,
        "One thread. A put is `open(O_CREAT|O_TRUNC)`, `write`, `close`; a get is `open`, \
         `read`, `close`; a delete is `unlink`; the mix is nine gets to one put. Puts and \
         gets go to random keys of a set of up to 1000 keys (up to 16 MiB of values) in \
         one namespace; deletes remove keys made before each repetition (up to 2000, or \
         32 MiB).\n\n![ops/s by value size](bench-value-size.svg)\n"
    );
    let _ = writeln!(
        md,
        "| store | operation | value | ops/s (median) | min–max | µs/op |\n| --- | --- | --- | ---: | ---: | ---: |"
    );
    let mut rows: Vec<&ValueSizeRow> = run.value_size.iter().collect();
    rows.sort_by_key(|r| (Op::ALL.iter().position(|&o| o == r.op), r.size));
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            r.store,
            r.op.name(),
            size_name(r.size),
            cells(&r.outcome)
        );
    }
    let _ = writeln!(md);
}

fn redis_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Redis\n");
    let _ = writeln!(
        md,
        "`redis-server` without persistence (`--save \"\" --appendonly no`), on a Unix \
         socket, one client sending one command at a time (a minimal RESP client in \
         `bench/src/redis.rs`), random keys of the same sets as above. Each command is \
         a round trip between two processes, so it pays for waking the server and then \
         the client, often on another vCPU; under TCG those wake-ups cost much more than \
         on hardware, and the ratio to a kvfs get (a few system calls in one process) is \
         larger than it would be there.\n"
    );
    if let Some(e) = &run.redis_error {
        let _ = writeln!(md, "Redis could not be measured: {e}\n");
    }
    let _ = writeln!(
        md,
        "| command | value | ops/s (median) | min–max | µs/op |\n| --- | --- | ---: | ---: | ---: |"
    );
    let mut rows: Vec<&RedisRow> = run.redis.iter().collect();
    rows.sort_by_key(|r| (r.command, r.size));
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            r.command,
            size_name(r.size),
            cells(&r.outcome)
        );
    }
    let _ = writeln!(md);
}

fn threads_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Threads\n");
    let _ = writeln!(
        md,
        "Gets and puts of {} values from 1, 2 and 4 threads at once, each thread on 64 \
         keys of its own (in one shared namespace or in a namespace per thread) or all \
         threads on one key. The rate is the sum over the threads. The guest has {} \
         vCPUs, each a host thread under TCG, on a host that is shared: scaling is \
         bounded by the host's free cores, not only by the store.\n\n\
         ![ops/s by thread count](bench-threads.svg)\n",
        size_name(run.config.thread_value_size),
        run.guest_cpus
    );
    let _ = writeln!(
        md,
        "| store | operation | keys | threads | ops/s (median, all threads) | min–max | µs/op (all threads) |\n| --- | --- | --- | ---: | ---: | ---: | ---: |"
    );
    for r in &run.threads {
        let r: &ThreadRow = r;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            r.store,
            r.op.name(),
            r.layout.name(),
            r.threads,
            cells(&r.outcome)
        );
    }
    let _ = writeln!(md);
}

fn store_size_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Get against store size\n");
    let _ = writeln!(
        md,
        "Gets of 16-B values at random keys of one namespace as it grows, populated with \
         puts. The population time of each step is measured too.\n"
    );
    for note in &run.config.store_size_notes {
        let _ = writeln!(md, "{note}\n");
    }
    let _ = writeln!(
        md,
        "| store | keys | populating this step | get ops/s (median) | min–max | µs/op | µs/op vs first step |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &run.store_size {
        let first = run
            .store_size
            .iter()
            .find(|f| f.store == r.store)
            .and_then(|f| median(&f.outcome));
        let relative = match (first, median(&r.outcome)) {
            (Some(f), Some(m)) => format!("{:.2}x", f / m),
            _ => String::new(),
        };
        let keys = if r.keys < r.target {
            format!("{} of {}", r.keys, r.target)
        } else {
            r.keys.to_string()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} s | {} | {} |",
            r.store,
            keys,
            r.populate.as_secs_f64(),
            cells(&r.outcome),
            relative
        );
    }
    for r in &run.store_size {
        if let Some(e) = &r.populate_error {
            let _ = writeln!(md, "\n{} at {} keys: {e}.", r.store, r.keys);
        }
    }
    let _ = writeln!(md);
}

fn memory_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Kernel memory per key and readdir\n");
    let _ = writeln!(
        md,
        "{} keys of 16 B in one namespace. `/proc/meminfo` is read before the keys are \
         made and after, each time after `sync` and `echo 3 > /proc/sys/vm/drop_caches`. \
         Kernel memory is the growth of `Slab` (inodes, dentries, kvfs's values) plus \
         `Cached` (which holds tmpfs's `Shmem` pages and ramfs's pages); the growth of \
         used memory (the fall of `MemFree`) is shown as a cross-check. Readings are \
         system-wide, so other activity in the guest adds noise.\n",
        run.config.memory_keys
    );
    let _ = writeln!(
        md,
        "| store | ΔSlab KiB | ΔSUnreclaim KiB | ΔShmem KiB | ΔCached KiB | kernel bytes/key | −ΔMemFree bytes/key | create s | delete s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &run.memory {
        match &r.delta {
            Ok(d) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} |",
                    r.store,
                    d.slab,
                    d.sunreclaim,
                    d.shmem,
                    d.cached,
                    d.kernel_kib() as f64 * 1024.0 / r.keys as f64,
                    -d.mem_free as f64 * 1024.0 / r.keys as f64,
                    r.create.as_secs_f64(),
                    r.delete.as_secs_f64()
                );
            }
            Err(e) => {
                let _ = writeln!(md, "| {} | failed: {e} | | | | | | | |", r.store);
            }
        }
    }
    let _ = writeln!(
        md,
        "\nReaddir lists the whole namespace of {} keys (`std::fs::read_dir`, which \
         calls `getdents64`), once per repetition.\n",
        run.config.memory_keys
    );
    let _ = writeln!(
        md,
        "| store | entries/s (median) | min–max | ms per listing |\n| --- | ---: | ---: | ---: |"
    );
    for r in &run.memory {
        match &r.readdir {
            Ok(s) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {}–{} | {:.0} |",
                    r.store,
                    rate(s.median),
                    rate(s.min),
                    rate(s.max),
                    r.keys as f64 / s.median * 1e3
                );
            }
            Err(e) => {
                let _ = writeln!(md, "| {} | failed: {e} | | |", r.store);
            }
        }
    }
    let _ = writeln!(md);
}

const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The value-size plot: gets and puts of each store and of Redis.
pub(crate) fn value_size_svg(run: &Run) -> String {
    let sizes = &run.config.sizes;
    let mut series = Vec::new();
    for (i, store) in run.config.stores.iter().enumerate() {
        for (op, dashed) in [(Op::Get, false), (Op::Put, true)] {
            series.push(Series {
                label: format!("{} {}", store.name, op.name()),
                color: COLORS[i % COLORS.len()],
                dashed,
                values: sizes
                    .iter()
                    .map(|&s| value_size_median(run, &store.name, op, s))
                    .collect(),
            });
        }
    }
    if !run.redis.is_empty() {
        for (command, dashed) in [("GET", false), ("SET", true)] {
            series.push(Series {
                label: format!("Redis {command}"),
                color: COLORS[3],
                dashed,
                values: sizes
                    .iter()
                    .map(|&s| redis_median(run, command, s))
                    .collect(),
            });
        }
    }
    Chart {
        title: "ops/s by value size (one thread, median; log scale)",
        x_label: "value size",
        y_label: "operations per second",
        categories: sizes.iter().map(|&s| size_name(s)).collect(),
        series,
        log_y: true,
    }
    .render()
}

/// The thread plot: gets and puts on distinct keys, a namespace per thread.
pub(crate) fn threads_svg(run: &Run) -> String {
    let threads = &run.config.threads;
    let mut series = Vec::new();
    for (i, store) in run.config.stores.iter().enumerate() {
        for (op, dashed) in [(Op::Get, false), (Op::Put, true)] {
            series.push(Series {
                label: format!("{} {}", store.name, op.name()),
                color: COLORS[i % COLORS.len()],
                dashed,
                values: threads
                    .iter()
                    .map(|&t| thread_median(run, &store.name, op, Layout::DirPerThread, t))
                    .collect(),
            });
        }
    }
    let title = format!(
        "ops/s by thread count ({} values, distinct keys, namespace per thread)",
        size_name(run.config.thread_value_size)
    );
    Chart {
        title: &title,
        x_label: "threads",
        y_label: "operations per second (sum)",
        categories: threads.iter().map(|t| t.to_string()).collect(),
        series,
        log_y: false,
    }
    .render()
}

fn profiles_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Profiles\n");
    if run.config.perf.is_none() {
        let _ = writeln!(md, "Not profiled: `kvfs-bench` ran without `--perf`.\n");
        return;
    }
    let _ = writeln!(
        md,
        "Where the time of a get goes. Each run is a process that does only gets, under \
         `perf record -g -e cpu-clock -c {PERIOD_NS}` (a sample every {} µs of CPU time, \
         with its call chain), and that measures its own CPU time (user and system, \
         `getrusage`) and wall time over the gets. A function's share of the samples \
         times the CPU time, over the number of gets, is its CPU time per get. The \
         sample count alone is not a time here: under emulation the sampling timer \
         often fires late, and a late timer gives one sample for the periods it \
         missed. The emulated CPU has no hardware counters either, so cache and TLB \
         misses are not counted as such: their cost falls on the function that first \
         touches the memory. kvfs's functions are named from `/proc/kallsyms`.\n",
        PERIOD_NS / 1000
    );
    if run.profiles.is_empty() {
        let _ = writeln!(
            md,
            "No profile was taken: they need stores named kvfs and tmpfs, and the \
             store-size workload's namespace on kvfs.\n"
        );
    }
    for c in &run.profiles {
        comparison(md, c);
    }
}

fn part_label(part: Part) -> &'static str {
    match part {
        Part::Kvfs => "kvfs",
        Part::Kernel => "kernel",
        Part::User => "user",
    }
}

fn comparison(md: &mut String, c: &Comparison) {
    let _ = writeln!(md, "### {}\n\n{}\n", c.title, c.about);
    let (base, other) = match (&c.base, &c.other) {
        (Ok(base), Ok(other)) => (base, other),
        (base, other) => {
            for (name, sampled) in [(&c.base_name, base), (&c.other_name, other)] {
                if let Err(e) = sampled {
                    let _ = writeln!(md, "{name}: not profiled: {e}.\n");
                }
            }
            return;
        }
    };
    let diff = |part| other.part_us(part) - base.part_us(part);
    let _ = writeln!(
        md,
        "{}: {} gets/s; {}: {} gets/s ({:.2}x), in wall time. {} takes {:+.1} µs of CPU \
         time per get against {} ({:.1} µs against {:.1} µs): {:+.1} µs in kvfs's \
         functions, {:+.1} µs in the rest of the kernel and {:+.1} µs in user space.\n",
        c.base_name,
        rate(base.rate()),
        c.other_name,
        rate(other.rate()),
        other.rate() / base.rate(),
        c.other_name,
        other.total_us() - base.total_us(),
        c.base_name,
        other.total_us(),
        base.total_us(),
        diff(Part::Kvfs),
        diff(Part::Kernel),
        diff(Part::User)
    );
    let _ = writeln!(
        md,
        "| where | {} µs/get | {} µs/get | difference |\n| --- | ---: | ---: | ---: |",
        c.base_name, c.other_name
    );
    for part in Part::ALL {
        let _ = writeln!(
            md,
            "| {} | {:.2} | {:.2} | {:+.2} |",
            part.name(),
            base.part_us(part),
            other.part_us(part),
            diff(part)
        );
    }
    let _ = writeln!(
        md,
        "| all | {:.2} | {:.2} | {:+.2} |\n",
        base.total_us(),
        other.total_us(),
        other.total_us() - base.total_us()
    );

    let mut callbacks: Vec<&str> = Vec::new();
    for (name, _) in base.callbacks.iter().chain(&other.callbacks) {
        if !callbacks.contains(&name.as_str()) {
            callbacks.push(name);
        }
    }
    if !callbacks.is_empty() {
        let _ = writeln!(
            md,
            "kvfs's callbacks, with the kernel functions they call, from the call chains \
             (`mutex_lock` under `kvfs_open` is kvfs's, for instance):\n\n\
             | callback | {} µs/get | {} µs/get | difference |\n| --- | ---: | ---: | ---: |",
            c.base_name, c.other_name
        );
        callbacks.sort_by(|x, y| other.callback_us(y).total_cmp(&other.callback_us(x)));
        for name in callbacks {
            let (b, o) = (base.callback_us(name), other.callback_us(name));
            let _ = writeln!(md, "| `{name}` | {b:.2} | {o:.2} | {:+.2} |", o - b);
        }
        let (b, o) = (base.callbacks_us(), other.callbacks_us());
        let _ = writeln!(md, "| all callbacks | {b:.2} | {o:.2} | {:+.2} |\n", o - b);
    }

    const TOP: usize = 15;
    let _ = writeln!(
        md,
        "The {TOP} functions with the most time in either run:\n\n\
         | function | part | {} µs/get | {} µs/get | difference |\n\
         | --- | --- | ---: | ---: | ---: |",
        c.base_name, c.other_name
    );
    for (name, part, b, o) in top_symbols(base, other, TOP) {
        let _ = writeln!(
            md,
            "| `{}` | {} | {:.2} | {:.2} | {:+.2} |",
            name.replace('|', "/"),
            part_label(part),
            b,
            o,
            o - b
        );
    }
    let _ = writeln!(md);
}

/// The `n` symbols with the most time in `a` or in `b`, most first, with
/// their times per get in each.
fn top_symbols(a: &Sampled, b: &Sampled, n: usize) -> Vec<(String, Part, f64, f64)> {
    let mut rows: Vec<(String, Part, f64, f64)> = Vec::new();
    for symbol in a.symbols.iter().chain(&b.symbols) {
        if !rows.iter().any(|(name, ..)| *name == symbol.name) {
            let (in_a, in_b) = (a.symbol_us(&symbol.name), b.symbol_us(&symbol.name));
            rows.push((symbol.name.clone(), symbol.part, in_a, in_b));
        }
    }
    rows.sort_by(|x, y| y.2.max(y.3).total_cmp(&x.2.max(x.3)));
    rows.truncate(n);
    rows
}
