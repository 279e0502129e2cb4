//! kvfs-stress: many processes and threads put, get, append, rename and
//! delete overlapping keys in one namespace for a bounded time, and check
//! that every value read was whole, as some writer committed it.
//!
//! Usage: kvfs-stress DIR [SECONDS] [PROCESSES] [THREADS]
//!
//! Every put value carries its writer, a sequence number, its length and a
//! checksum of a payload derived from those. Every append is one line
//! naming its writer and sequence. Workers print what they committed and
//! what they read; the coordinator checks, at the end:
//! - every value read parsed and matched its checksum (no torn value), or
//!   was the empty version of a key created by a put not yet committed;
//! - every value read was committed by a writer whose commit succeeded;
//! - every committed append is in the log exactly once, and nothing else;
//! - every key left in the store holds a whole, committed value.
//!
//! It prints the operations done and the violations found, and exits with
//! 1 if there was any violation.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use userspace_tests::{check_value, make_value, Rng};

const KEYS: usize = 8;
const APPEND_KEY: &str = "log";
const MAX_VALUE: usize = 48 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 3 && args[1] == "--worker" {
        worker(&args[2..]);
        return;
    }
    let dir = PathBuf::from(
        args.get(1)
            .expect("usage: kvfs-stress DIR [SECONDS] [PROCESSES] [THREADS]"),
    );
    let seconds: u64 = args.get(2).map_or(10, |s| s.parse().expect("SECONDS"));
    let processes: usize = args.get(3).map_or(4, |s| s.parse().expect("PROCESSES"));
    let threads: usize = args.get(4).map_or(2, |s| s.parse().expect("THREADS"));
    std::process::exit(coordinate(&dir, seconds, processes, threads));
}

fn key_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("k{index}"))
}

/// One worker process: runs `threads` threads until the deadline and
/// prints one line per commit, read and violation.
fn worker(args: &[String]) {
    let id: u64 = args[0].parse().expect("worker id");
    let dir = PathBuf::from(&args[1]);
    let seconds: u64 = args[2].parse().expect("seconds");
    let threads: u64 = args[3].parse().expect("threads");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || worker_thread(id * 100 + t, &dir, deadline))
        })
        .collect();
    let stdout = std::io::stdout();
    for handle in handles {
        let lines = handle.join().expect("worker thread panicked");
        let mut out = stdout.lock();
        for line in lines {
            writeln!(out, "{line}").expect("writing the worker's report");
        }
    }
}

fn worker_thread(writer: u64, dir: &Path, deadline: Instant) -> Vec<String> {
    let mut rng = Rng::new(writer + 1);
    let mut report = Vec::new();
    let mut seq = 0;
    while Instant::now() < deadline {
        seq += 1;
        let key = rng.below(KEYS);
        match rng.below(100) {
            0..=34 => {
                let value = make_value(writer, seq, rng.below(MAX_VALUE));
                if put(&key_path(dir, key), &value, &mut rng).is_ok() {
                    report.push(format!("put {writer} {seq}"));
                } else {
                    report.push("failed-put".to_string());
                }
            }
            35..=74 => match fs::read(key_path(dir, key)) {
                // A key created by a put whose commit has not happened yet
                // holds the empty initial version (docs/semantics.md).
                Ok(value) if value.is_empty() => report.push("got-initial".to_string()),
                Ok(value) => match check_value(&value) {
                    Ok((w, s)) => report.push(format!("got {w} {s}")),
                    Err(why) => report.push(format!("violation k{key}: {why}")),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    report.push("missed".to_string())
                }
                Err(e) => report.push(format!("violation reading k{key}: {e}")),
            },
            75..=89 => {
                let line = format!("A {writer} {seq}\n");
                let appended = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(dir.join(APPEND_KEY))
                    .and_then(|mut file| file.write_all(line.as_bytes()));
                match appended {
                    Ok(()) => report.push(format!("appended {writer} {seq}")),
                    Err(e) => report.push(format!("violation appending: {e}")),
                }
            }
            90..=95 => {
                let to = rng.below(KEYS);
                match fs::rename(key_path(dir, key), key_path(dir, to)) {
                    Ok(()) => report.push("renamed".to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        report.push("missed".to_string())
                    }
                    Err(e) => report.push(format!("violation renaming: {e}")),
                }
            }
            _ => match fs::remove_file(key_path(dir, key)) {
                Ok(()) => report.push("deleted".to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    report.push("missed".to_string())
                }
                Err(e) => report.push(format!("violation deleting: {e}")),
            },
        }
    }
    report
}

/// Puts `value` in several writes, so that a torn commit would show.
fn put(path: &Path, value: &[u8], rng: &mut Rng) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    let mut rest = value;
    while !rest.is_empty() {
        let chunk = (1 + rng.below(16 * 1024)).min(rest.len());
        file.write_all(&rest[..chunk])?;
        rest = &rest[chunk..];
    }
    file.sync_all()?;
    Ok(())
}

fn coordinate(dir: &Path, seconds: u64, processes: usize, threads: usize) -> i32 {
    let exe = std::env::current_exe().expect("own path");
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|id| {
            Command::new(&exe)
                .arg("--worker")
                .arg(id.to_string())
                .arg(dir)
                .arg(seconds.to_string())
                .arg(threads.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting a worker")
        })
        .collect();

    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    let mut committed = HashSet::new();
    let mut observed = Vec::new();
    let mut appended = HashSet::new();
    let mut violations = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("waiting for a worker");
        if !output.status.success() {
            violations.push(format!("a worker exited with {}", output.status));
        }
        for line in BufReader::new(&output.stdout[..]).lines() {
            let line = line.expect("worker output");
            let mut words = line.split(' ');
            let what = words.next().unwrap_or("");
            let pair = |mut words: std::str::Split<'_, char>| -> (u64, u64) {
                let w = words
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
                let s = words
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
                (w, s)
            };
            let kind = match what {
                "put" => {
                    committed.insert(pair(words));
                    "puts"
                }
                "failed-put" => "failed puts",
                "got-initial" => "gets of a created, uncommitted key",
                "got" => {
                    observed.push(pair(words));
                    "gets"
                }
                "appended" => {
                    appended.insert(pair(words));
                    "appends"
                }
                "renamed" => "renames",
                "deleted" => "deletes",
                "missed" => "operations on absent keys",
                _ => {
                    violations.push(line.clone());
                    "violations"
                }
            };
            *counts.entry(kind).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();

    for pair in &observed {
        if !committed.contains(pair) {
            violations.push(format!("read a value {pair:?} that no writer committed"));
        }
    }
    match fs::read(dir.join(APPEND_KEY)) {
        Ok(log) => {
            let mut seen = HashSet::new();
            for line in String::from_utf8_lossy(&log).lines() {
                let mut words = line.split(' ');
                let tag = words.next();
                let w = words.next().and_then(|s| s.parse::<u64>().ok());
                let s = words.next().and_then(|s| s.parse::<u64>().ok());
                match (tag, w, s) {
                    (Some("A"), Some(w), Some(s)) if appended.contains(&(w, s)) => {
                        if !seen.insert((w, s)) {
                            violations.push(format!("append {w} {s} is in the log twice"));
                        }
                    }
                    _ => violations.push(format!("the log has a line {line:?} nobody appended")),
                }
            }
            for pair in appended.difference(&seen) {
                violations.push(format!("append {pair:?} is missing from the log"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && appended.is_empty() => {}
        Err(e) => violations.push(format!("reading the log: {e}")),
    }
    for key in 0..KEYS {
        match fs::read(key_path(dir, key)) {
            Ok(value) if value.is_empty() => {
                if !counts.contains_key("failed puts") {
                    violations.push(format!("k{key} ends empty though every put committed"));
                }
            }
            Ok(value) => match check_value(&value) {
                Ok(pair) if committed.contains(&pair) => {}
                Ok(pair) => violations.push(format!("k{key} ends with uncommitted {pair:?}")),
                Err(why) => violations.push(format!("k{key} ends torn: {why}")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => violations.push(format!("reading k{key} at the end: {e}")),
        }
    }

    let total: u64 = counts
        .iter()
        .filter(|(kind, _)| **kind != "violations")
        .map(|(_, n)| n)
        .sum();
    let mut kinds: Vec<_> = counts.iter().collect();
    kinds.sort();
    println!(
        "stress: {total} operations by {processes} processes x {threads} threads in {:.1} s",
        elapsed.as_secs_f64()
    );
    for (kind, n) in kinds {
        println!("stress:   {n} {kind}");
    }
    println!("stress: {} violations", violations.len());
    for violation in violations.iter().take(20) {
        println!("stress: violation: {violation}");
    }
    if violations.is_empty() && total > 0 {
        0
    } else {
        1
    }
}
