//! Profiles of gets under `perf`, for what the timings alone cannot explain:
//! where the time of a kvfs get goes next to a tmpfs get, and what grows
//! when the namespace does.
//!
//! Each profiled run is a child process (`kvfs-bench profile-child`) that
//! does nothing but gets, started under `perf record` with the software
//! `cpu-clock` event sampled every [`PERIOD_NS`] of CPU time, with call
//! chains. The child measures its own CPU time (`getrusage`) and wall time
//! over its gets; a function's share of the samples times that CPU time is
//! the time spent in it, and the share of the samples under it the time
//! spent in it and what it calls. Samples are not counted as time directly:
//! under emulation the sampling timer often fires late, and a late timer
//! gives one sample for all the periods it missed. The guest has
//! no hardware counters under emulation; this clock is what it has. `perf
//! report` names the symbols, kvfs's own from `/proc/kallsyms` (the module
//! is loaded from outside `/lib/modules`, so that is where its symbols are).

use crate::measure::Rng;
use crate::ops;
use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The sampling period: one sample per millisecond of CPU time, rarely
/// enough that the sampling itself adds little to the time of a get.
pub(crate) const PERIOD_NS: u64 = 1_000_000;

/// Where a symbol's code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The kvfs module.
    Kvfs,
    /// The rest of the kernel: the VFS, the allocators, system call entry.
    Kernel,
    /// The profiled process itself and its libraries.
    User,
}

impl Part {
    pub(crate) const ALL: [Part; 3] = [Part::Kvfs, Part::Kernel, Part::User];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Kvfs => "all of kvfs's functions",
            Part::Kernel => "the rest of the kernel",
            Part::User => "user space",
        }
    }
}

/// One line of `perf report`: a symbol and its samples.
pub(crate) struct Symbol {
    pub(crate) part: Part,
    pub(crate) name: String,
    pub(crate) samples: u64,
}

/// One profiled run: `ops` gets, the time they took and where their samples
/// fell.
pub(crate) struct Sampled {
    pub(crate) ops: u64,
    /// CPU time of the gets, user and system, over all threads.
    pub(crate) cpu_seconds: f64,
    /// Wall time of the gets.
    pub(crate) wall_seconds: f64,
    /// Samples in each function itself.
    pub(crate) symbols: Vec<Symbol>,
    /// Samples in each of kvfs's VFS callbacks (its `kvfs_*` functions) or
    /// in what it called.
    pub(crate) callbacks: Vec<(String, u64)>,
}

impl Sampled {
    /// The samples of two runs of the same gets, added up.
    pub(crate) fn add(mut self, other: Sampled) -> Sampled {
        self.ops += other.ops;
        self.cpu_seconds += other.cpu_seconds;
        self.wall_seconds += other.wall_seconds;
        for symbol in other.symbols {
            match self
                .symbols
                .iter_mut()
                .find(|s| s.name == symbol.name && s.part == symbol.part)
            {
                Some(s) => s.samples += symbol.samples,
                None => self.symbols.push(symbol),
            }
        }
        for (name, samples) in other.callbacks {
            match self.callbacks.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => *s += samples,
                None => self.callbacks.push((name, samples)),
            }
        }
        self
    }

    /// Microseconds of CPU time per get of `samples` samples.
    pub(crate) fn us(&self, samples: u64) -> f64 {
        let total: u64 = self.symbols.iter().map(|s| s.samples).sum();
        if total == 0 {
            return 0.0;
        }
        samples as f64 / total as f64 * self.cpu_seconds * 1e6 / self.ops as f64
    }

    pub(crate) fn total_us(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.ops as f64
    }

    /// Gets per second of wall time.
    pub(crate) fn rate(&self) -> f64 {
        self.ops as f64 / self.wall_seconds
    }

    pub(crate) fn part_us(&self, part: Part) -> f64 {
        self.us(self
            .symbols
            .iter()
            .filter(|s| s.part == part)
            .map(|s| s.samples)
            .sum())
    }

    /// Time in kvfs's callbacks and what they call. The callbacks are
    /// entered from the VFS and do not call each other, so their times add.
    pub(crate) fn callbacks_us(&self) -> f64 {
        self.us(self.callbacks.iter().map(|(_, samples)| samples).sum())
    }

    pub(crate) fn callback_us(&self, name: &str) -> f64 {
        self.us(self
            .callbacks
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, samples)| samples)
            .sum())
    }

    pub(crate) fn symbol_us(&self, name: &str) -> f64 {
        self.us(self
            .symbols
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.samples)
            .sum())
    }
}

/// Two profiled runs to set side by side: `base` and `other`.
pub(crate) struct Comparison {
    pub(crate) title: String,
    pub(crate) about: String,
    pub(crate) base_name: String,
    pub(crate) other_name: String,
    pub(crate) base: Result<Sampled, String>,
    pub(crate) other: Result<Sampled, String>,
}

/// What a profiled child does: `ops` gets of `size`-byte values at random
/// keys `k0000000`, `k0000001`, ... below `keys` in `dir`, from `threads`
/// threads at once, each on the keys whose number modulo `threads` is its
/// own.
pub(crate) struct Gets {
    pub(crate) dir: PathBuf,
    pub(crate) keys: u64,
    pub(crate) size: usize,
    pub(crate) ops: u64,
    pub(crate) threads: usize,
}

/// Runs `gets` in a child under `perf` and reads back its profile.
pub(crate) fn sample(perf: &Path, label: &str, gets: &Gets) -> Result<Sampled, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding kvfs-bench: {e}"))?;
    let data = std::env::temp_dir().join(format!("kvfs-bench-{label}.perf"));
    let output = Command::new(perf)
        .args(["record", "-q", "-g", "-e", "cpu-clock", "-c"])
        .arg(PERIOD_NS.to_string())
        .arg("-o")
        .arg(&data)
        .arg("--")
        .arg(exe)
        .arg("profile-child")
        .arg(&gets.dir)
        .args([gets.keys, gets.size as u64, gets.ops, gets.threads as u64].map(|n| n.to_string()))
        .output()
        .map_err(|e| format!("running {}: {e}", perf.display()))?;
    let times = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(parse_times);
    let Some((cpu_seconds, wall_seconds)) = times.filter(|_| output.status.success()) else {
        let _ = std::fs::remove_file(&data);
        return Err(format!(
            "perf record: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let report = |view: &str| -> Result<String, String> {
        let output = Command::new(perf)
            .arg("report")
            .arg("-i")
            .arg(&data)
            .args([
                view,
                "-g",
                "none",
                "--kallsyms=/proc/kallsyms",
                "--stdio",
                "-n",
                "--sort",
                "dso,sym",
                "--percent-limit",
                "0",
            ])
            .output()
            .map_err(|e| format!("running {} report: {e}", perf.display()))?;
        if !output.status.success() {
            return Err(format!("perf report {view}: {}", output.status));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let reports = report("--no-children").and_then(|own| Ok((own, report("--children")?)));
    let _ = std::fs::remove_file(&data);
    let (own, inclusive) = reports?;
    let symbols = parse_report(&own);
    let total: u64 = symbols.iter().map(|s| s.samples).sum();
    if total == 0 {
        return Err("perf report listed no samples".into());
    }
    Ok(Sampled {
        ops: gets.ops,
        cpu_seconds,
        wall_seconds,
        symbols,
        callbacks: parse_callbacks(&inclusive, total),
    })
}

/// The symbols of `perf report --stdio -n --sort dso,sym`, whose lines read
/// `  12.34%  567  [kernel.vmlinux]  [k] name`.
fn parse_report(text: &str) -> Vec<Symbol> {
    let mut symbols = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || !fields[0].ends_with('%') {
            continue;
        }
        let Ok(samples) = fields[1].parse::<u64>() else {
            continue;
        };
        let part = match (fields[2], fields[3]) {
            ("[kvfs]", _) => Part::Kvfs,
            (_, "[k]") => Part::Kernel,
            _ => Part::User,
        };
        let raw = fields[4..].join(" ");
        symbols.push(Symbol {
            part,
            name: format!("{:#}", rustc_demangle::demangle(&raw)),
            samples,
        });
    }
    symbols
}

/// The child's report of its times: `cpu=SECONDS wall=SECONDS`.
fn parse_times(line: &str) -> Option<(f64, f64)> {
    let (cpu, wall) = line.split_once(' ')?;
    let cpu = cpu.strip_prefix("cpu=")?.parse().ok()?;
    let wall = wall.strip_prefix("wall=")?.parse().ok()?;
    Some((cpu, wall))
}

/// kvfs's callbacks in `perf report --children --stdio -n --sort dso,sym`,
/// whose lines read `  12.34%  1.00%  56  [kvfs]  [k] name`, with the
/// samples under each: its first percentage of the `total` samples.
fn parse_callbacks(text: &str, total: u64) -> Vec<(String, u64)> {
    let mut callbacks = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || fields[3] != "[kvfs]" {
            continue;
        }
        let Some(Ok(percent)) = fields[0].strip_suffix('%').map(str::parse::<f64>) else {
            continue;
        };
        let name = format!("{:#}", rustc_demangle::demangle(&fields[5..].join(" ")));
        if name
            .rsplit("::")
            .next()
            .is_some_and(|f| f.starts_with("kvfs_"))
        {
            let samples = (percent / 100.0 * total as f64).round() as u64;
            callbacks.push((name, samples));
        }
    }
    callbacks
}

/// `kvfs-bench profile-child DIR KEYS SIZE OPS THREADS`: the gets of
/// [`Gets`], and nothing else, for `perf record` to watch.
pub(crate) fn child(args: &[String]) -> ExitCode {
    let usage = || {
        eprintln!("usage: kvfs-bench profile-child DIR KEYS SIZE OPS THREADS");
        ExitCode::from(2)
    };
    let [dir, numbers @ ..] = args else {
        return usage();
    };
    let numbers: Result<Vec<u64>, _> = numbers.iter().map(|n| n.parse::<u64>()).collect();
    let Ok(&[keys, size, ops, threads]) = numbers.as_deref() else {
        return usage();
    };
    if keys == 0 {
        return usage();
    }
    let threads = threads.clamp(1, keys);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let failed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || gets(dir, keys, size as usize, ops / threads, t, threads)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .filter_map(Result::err)
            .inspect(|e| eprintln!("kvfs-bench profile-child: {e}"))
            .count()
    });
    let wall = started.elapsed().as_secs_f64();
    if failed == 0 {
        println!("cpu={:.6} wall={wall:.6}", cpu_seconds() - cpu_before);
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// User and system time of this process so far, all threads.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // `getrusage` fills the `rusage`, and with RUSAGE_SELF it cannot fail.
    // SAFETY: `usage` is valid for writes of a `rusage`.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Thread `t` of `threads`: `ops` gets at random keys of its own.
fn gets(dir: &str, keys: u64, size: usize, ops: u64, t: u64, threads: u64) -> Result<(), String> {
    let mut path = dir.as_bytes().to_vec();
    path.push(b'/');
    let prefix = path.len();
    let mut buf = vec![0u8; size];
    let mut rng = Rng::new(5 + t);
    let own = (keys - t).div_ceil(threads);
    for _ in 0..ops {
        // The path is formatted in place, so that the child allocates
        // nothing per get and its own share of the profile stays small.
        path.truncate(prefix);
        let _ = write!(path, "k{:07}\0", rng.below(own) * threads + t);
        let key = CStr::from_bytes_with_nul(&path).expect("one NUL, at the end");
        match ops::get_cstr(key, &mut buf) {
            Ok(n) if n == size => {}
            Ok(n) => return Err(format!("a get returned {n} bytes, not {size}")),
            Err(e) => return Err(format!("{}: {e}", key.to_string_lossy())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_report_lines_and_demangles() {
        let text = "# Samples: 3  of event 'cpu-clock'\n\
                    #\n\
                    \x20   50.00%     2  [kernel.vmlinux]  [k] rep_movs_alternative\n\
                    \x20   25.00%     1  [kvfs]            [k] _RNvNtCscfXpiLW573C_4kvfs3vfs9kvfs_open\n\
                    \x20   25.00%     1  libc.so.6         [.] __GI___libc_open\n";
        let symbols = parse_report(text);
        let got: Vec<(Part, &str, u64)> = symbols
            .iter()
            .map(|s| (s.part, s.name.as_str(), s.samples))
            .collect();
        assert_eq!(
            got,
            [
                (Part::Kernel, "rep_movs_alternative", 2),
                (Part::Kvfs, "kvfs::vfs::kvfs_open", 1),
                (Part::User, "__GI___libc_open", 1),
            ]
        );
        let inclusive = "    50.00%  25.00%  1  [kvfs]  [k] _RNvNtCscfXpiLW573C_4kvfs3vfs9kvfs_open\n\
                         \x20   30.00%  30.00%  1  [kvfs]  [k] _RNvNtCscfXpiLW573C_4kvfs3vfs8key_of\n\
                         \x20   90.00%   0.00%  0  [kernel.vmlinux]  [k] do_sys_openat2\n";
        let callbacks = parse_callbacks(inclusive, 4);
        assert_eq!(callbacks, [("kvfs::vfs::kvfs_open".to_string(), 2)]);
        assert_eq!(parse_times("cpu=0.000400 wall=0.5"), Some((0.0004, 0.5)));
        let sampled = Sampled {
            ops: 10,
            cpu_seconds: 0.0004,
            wall_seconds: 0.5,
            symbols,
            callbacks,
        };
        // 400 µs of CPU time over 10 gets, a quarter of it in kvfs and half
        // under its callback.
        assert!((sampled.total_us() - 40.0).abs() < 1e-9);
        assert!((sampled.part_us(Part::Kvfs) - 10.0).abs() < 1e-9);
        assert!((sampled.callbacks_us() - 20.0).abs() < 1e-9);
        assert!((sampled.rate() - 20.0).abs() < 1e-9);
    }
}
