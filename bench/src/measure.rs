//! Timing of repeated runs: each repetition runs an operation until a time
//! budget is spent (or its work runs out) and yields operations per second;
//! the repetitions are summarised as median, minimum and maximum. Each
//! measurement is preceded by a shorter warm-up that is not counted.

use std::io;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Median and spread of operations per second over the repetitions.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// Every repetition's rate, in ascending order.
    pub(crate) rates: Vec<f64>,
}

impl Stats {
    pub(crate) fn of(mut rates: Vec<f64>) -> Stats {
        assert!(!rates.is_empty(), "at least one repetition");
        rates.sort_by(f64::total_cmp);
        let mid = rates.len() / 2;
        let median = if rates.len() % 2 == 1 {
            rates[mid]
        } else {
            (rates[mid - 1] + rates[mid]) / 2.0
        };
        Stats {
            median,
            min: rates[0],
            max: rates[rates.len() - 1],
            rates,
        }
    }
}

/// One outcome from the repetitions of several: the repetitions of one
/// measurement taken at different times, or the first error among them.
pub(crate) fn merge(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    let mut rates = Vec::new();
    for outcome in outcomes {
        rates.extend(outcome?.rates);
    }
    if rates.is_empty() {
        return Err("no repetition".into());
    }
    Ok(Stats::of(rates))
}

/// A measurement, or why it could not be made.
pub(crate) type Outcome = Result<Stats, String>;

/// How long and how often each measurement runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) reps: usize,
    pub(crate) per_rep: Duration,
    /// Operations each repetition does even past its time, so that slow
    /// operations (1-MiB values under emulation) still give a rate.
    pub(crate) min_ops: u64,
}

impl Budget {
    /// How long repetition `rep` runs: repetition 0 is the warm-up, a
    /// quarter of the others.
    fn time_of(&self, rep: usize) -> Duration {
        if rep == 0 {
            self.per_rep / 4
        } else {
            self.per_rep
        }
    }
}

/// Runs `op` in `budget.reps` repetitions after a warm-up, each after `setup` (which is not
/// timed). `op` gets the index of the operation within its repetition and
/// returns whether there is more work; a repetition ends when its time is
/// spent or `op` returns false.
pub(crate) fn measure(
    budget: Budget,
    mut setup: impl FnMut(usize) -> io::Result<()>,
    mut op: impl FnMut(u64) -> io::Result<bool>,
) -> Outcome {
    let mut rates = Vec::with_capacity(budget.reps);
    // Repetition 0 is a warm-up and is not counted: under emulation the
    // first run of a code path pays for translating it.
    for rep in 0..=budget.reps {
        setup(rep).map_err(|e| format!("setup: {e}"))?;
        let start = Instant::now();
        let mut ops = 0u64;
        loop {
            let more = op(ops).map_err(|e| e.to_string())?;
            ops += u64::from(more);
            if !more || (ops >= budget.min_ops && start.elapsed() >= budget.time_of(rep)) {
                break;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        if ops == 0 {
            return Err("no operation completed".into());
        }
        if rep > 0 {
            rates.push(ops as f64 / elapsed);
        }
    }
    Ok(Stats::of(rates))
}

/// Like [`measure`] with `threads` threads at once: `worker(thread)` makes
/// each thread's operation, and the rate is the sum over the threads.
pub(crate) fn measure_threads<W, F>(budget: Budget, threads: usize, worker: W) -> Outcome
where
    W: Fn(usize) -> F + Sync,
    F: FnMut(u64) -> io::Result<()>,
{
    let mut rates = Vec::with_capacity(budget.reps);
    // Repetition 0 is a warm-up, as in `measure`.
    for rep in 0..=budget.reps {
        let barrier = Barrier::new(threads);
        let results: Vec<io::Result<(u64, f64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let barrier = &barrier;
                    let worker = &worker;
                    scope.spawn(move || {
                        let mut op = worker(t);
                        barrier.wait();
                        let start = Instant::now();
                        let mut ops = 0u64;
                        while ops < budget.min_ops || start.elapsed() < budget.time_of(rep) {
                            op(ops)?;
                            ops += 1;
                        }
                        Ok((ops, start.elapsed().as_secs_f64()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a benchmark thread panicked"))
                .collect()
        });
        let mut rate = 0.0;
        for result in results {
            let (ops, secs) = result.map_err(|e| e.to_string())?;
            rate += ops as f64 / secs;
        }
        if rep > 0 {
            rates.push(rate);
        }
    }
    Ok(Stats::of(rates))
}

/// A small deterministic generator (xorshift64*), so that random key orders
/// are the same for every store.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
