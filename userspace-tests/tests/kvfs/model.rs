//! Model-based random testing: seeded random sequences of operations on
//! several open descriptors, run against kvfs and against an in-memory
//! model of docs/semantics.md, compared after every step.
//!
//! The descriptors stand for the processes of the contract: kvfs semantics
//! depend on open files, not on which process holds them, so one process
//! interleaving them at random covers them, and keeps every run replayable.
//! `KVFS_MODEL_SEED=N` replays one sequence; `KVFS_MODEL_RUNS` sets how many
//! sequences a run tries (each seed is printed in a failure).

use crate::common::{close, Mount};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use userspace_tests::Rng;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const MAX_VALUE: usize = 3000;
const MAX_BYTES: usize = 8000;
const STEPS: usize = 150;

/// The model's view of one key (an inode): its committed value and
/// whether a name still leads to it.
struct ModelKey {
    value: Vec<u8>,
    linked: bool,
}

/// What one open descriptor is, in the model.
enum ModelFile {
    Reader {
        snapshot: Vec<u8>,
    },
    Replace {
        view: Vec<u8>,
        dirty: bool,
        append: bool,
    },
    Append {
        base: Vec<u8>,
        tail: Vec<u8>,
    },
}

impl ModelFile {
    fn view(&self) -> Vec<u8> {
        match self {
            ModelFile::Reader { snapshot } => snapshot.clone(),
            ModelFile::Replace { view, .. } => view.clone(),
            ModelFile::Append { base, tail } => [&base[..], &tail[..]].concat(),
        }
    }
}

/// One descriptor: the real file and its model.
struct Open {
    /// The step and name it was opened with, for failure reports.
    label: String,
    file: File,
    key: usize,
    pos: usize,
    model: ModelFile,
}

/// The whole model: keys by id, names to ids, and the open descriptors.
struct Model {
    keys: HashMap<usize, ModelKey>,
    names: HashMap<&'static str, usize>,
    next_key: usize,
}

impl Model {
    fn open_count(opens: &[Open], key: usize) -> usize {
        opens.iter().filter(|o| o.key == key).count()
    }

    /// Forgets keys that no name and no descriptor reaches, as the kernel
    /// evicts them, and returns the committed bytes still held.
    fn held_bytes(&mut self, opens: &[Open]) -> usize {
        self.keys
            .retain(|&id, key| key.linked || Model::open_count(opens, id) > 0);
        self.keys.values().map(|k| k.value.len()).sum()
    }

    /// Commits `open`'s pending value the way kvfs does; returns whether
    /// there was anything to commit, or the errno kvfs must give.
    fn commit(&mut self, opens: &[Open], index: usize) -> Result<bool, i32> {
        let held = self.held_bytes(opens);
        let open = &opens[index];
        let current = &self.keys[&open.key].value;
        let next = match &open.model {
            ModelFile::Replace {
                view, dirty: true, ..
            } => view.clone(),
            ModelFile::Append { tail, .. } if !tail.is_empty() => {
                [&current[..], &tail[..]].concat()
            }
            _ => return Ok(false),
        };
        if next.len() > MAX_VALUE {
            return Err(libc::EFBIG);
        }
        if held - current.len() + next.len() > MAX_BYTES {
            return Err(libc::ENOSPC);
        }
        self.keys.get_mut(&open.key).unwrap().value = next;
        Ok(true)
    }
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// Runs one random sequence from `seed`; returns the log of steps and, on a
/// divergence, what differed.
fn run(seed: u64) -> Result<(), String> {
    let mount = Mount::new(&format!(
        "max_value={MAX_VALUE},max_bytes={MAX_BYTES},max_keys=64"
    ));
    let mut rng = Rng::new(seed);
    let mut model = Model {
        keys: HashMap::new(),
        names: HashMap::new(),
        next_key: 0,
    };
    let mut opens: Vec<Open> = Vec::new();
    let mut log = Vec::new();

    for step in 0..STEPS {
        let name = NAMES[rng.below(NAMES.len())];
        let path = mount.key(name);
        let choice = rng.below(100);
        let outcome: Result<String, String> = match choice {
            // Open for reading.
            0..=11 => {
                let real = File::open(&path);
                match (real, model.names.get(name)) {
                    (Ok(file), Some(&key)) => {
                        let snapshot = model.keys[&key].value.clone();
                        opens.push(Open {
                            label: format!("reader of {name} opened at step {step}"),
                            file,
                            key,
                            pos: 0,
                            model: ModelFile::Reader { snapshot },
                        });
                        Ok(format!("open_read {name}"))
                    }
                    (Err(e), None) if e.kind() == ErrorKind::NotFound => {
                        Ok(format!("open_read {name}: ENOENT"))
                    }
                    (real, expected) => Err(format!(
                        "open_read {name}: kvfs {real:?}, model {expected:?}"
                    )),
                }
            }
            // Open for writing: O_TRUNC, O_APPEND, both or neither, with O_CREAT.
            12..=29 => {
                let (trunc, append) = (rng.below(2) == 0, rng.below(3) == 0);
                let mut options = OpenOptions::new();
                options.read(true).create(true);
                if append {
                    options.append(true);
                } else {
                    options.write(true);
                }
                options.custom_flags(if trunc { libc::O_TRUNC } else { 0 });
                let keys_held = model.keys.len();
                match options.open(&path) {
                    Ok(file) => {
                        let key = *model.names.entry(name).or_insert_with(|| {
                            model.next_key += 1;
                            model.keys.insert(
                                model.next_key,
                                ModelKey {
                                    value: Vec::new(),
                                    linked: true,
                                },
                            );
                            model.next_key
                        });
                        let current = model.keys[&key].value.clone();
                        let state = if trunc {
                            ModelFile::Replace {
                                view: Vec::new(),
                                dirty: true,
                                append,
                            }
                        } else if append {
                            ModelFile::Append {
                                base: current,
                                tail: Vec::new(),
                            }
                        } else {
                            ModelFile::Replace {
                                view: current,
                                dirty: false,
                                append: false,
                            }
                        };
                        opens.push(Open {
                            label: format!("writer of {name} opened at step {step}"),
                            file,
                            key,
                            pos: 0,
                            model: state,
                        });
                        Ok(format!("open_write {name} trunc={trunc} append={append}"))
                    }
                    Err(e) => Err(format!("open_write {name}: {e} with {keys_held} keys held")),
                }
            }
            // write or pwrite on a descriptor.
            30..=54 if !opens.is_empty() => {
                let index = rng.below(opens.len());
                let len = 1 + rng.below(900);
                let data = rng.bytes(len);
                let offset = rng.below(2500);
                let positional = rng.below(2) == 0;
                let open = &mut opens[index];
                let real = if positional {
                    open.file.write_at(&data, offset as u64)
                } else {
                    std::io::Write::write(&mut open.file, &data)
                };
                let start = match &open.model {
                    ModelFile::Replace {
                        view, append: true, ..
                    } => Some(view.len()),
                    ModelFile::Replace { .. } if positional => Some(offset),
                    ModelFile::Replace { .. } => Some(open.pos),
                    ModelFile::Append { base, tail } => Some(base.len() + tail.len()),
                    ModelFile::Reader { .. } => None,
                };
                let expected = match start {
                    None => Err(libc::EBADF),
                    Some(start) if start + data.len() > MAX_VALUE => Err(libc::EFBIG),
                    Some(start) => Ok(start),
                };
                match (real, expected) {
                    (Ok(n), Ok(start)) if n == data.len() => {
                        match &mut open.model {
                            ModelFile::Replace { view, dirty, .. } => {
                                if view.len() < start + n {
                                    view.resize(start + n, 0);
                                }
                                view[start..start + n].copy_from_slice(&data);
                                *dirty = true;
                            }
                            ModelFile::Append { tail, .. } => tail.extend_from_slice(&data),
                            ModelFile::Reader { .. } => unreachable!(),
                        }
                        if !positional {
                            open.pos = start + n;
                        }
                        Ok(format!(
                            "write #{index} {n} bytes at {start} positional={positional}"
                        ))
                    }
                    (Err(e), Err(code)) if errno(&e) == code => {
                        Ok(format!("write #{index}: errno {code}"))
                    }
                    (real, expected) => Err(format!(
                        "write #{index} of {} bytes: kvfs {real:?}, model {expected:?}",
                        data.len()
                    )),
                }
            }
            // read or pread on a descriptor.
            55..=69 if !opens.is_empty() => {
                let index = rng.below(opens.len());
                let open = &mut opens[index];
                let view = open.model.view();
                let (from, positional) = match rng.below(2) {
                    0 => (rng.below(view.len() + 10), true),
                    _ => (open.pos, false),
                };
                let mut buf = vec![0; 4096];
                let real = if positional {
                    open.file.read_at(&mut buf, from as u64)
                } else {
                    open.file.read(&mut buf)
                };
                let expected = view.get(from..).unwrap_or(&[]);
                match real {
                    Ok(n)
                        if buf[..n] == expected[..n.min(expected.len())]
                            && (n == expected.len() || n == buf.len()) =>
                    {
                        if !positional {
                            open.pos += n;
                        }
                        Ok(format!("read #{index} {n} bytes at {from}"))
                    }
                    real => Err(format!(
                        "read #{index} at {from}: kvfs {real:?}, model {} bytes",
                        expected.len()
                    )),
                }
            }
            // lseek to the end.
            70..=73 if !opens.is_empty() => {
                let index = rng.below(opens.len());
                let open = &mut opens[index];
                let expected = open.model.view().len();
                match open.file.seek(SeekFrom::End(0)) {
                    Ok(end) if end as usize == expected => {
                        open.pos = expected;
                        Ok(format!("seek_end #{index} = {end}"))
                    }
                    real => Err(format!(
                        "seek_end #{index}: kvfs {real:?}, model {expected}"
                    )),
                }
            }
            // fsync: a commit that keeps the descriptor.
            74..=79 if !opens.is_empty() => {
                let index = rng.below(opens.len());
                let expected = model.commit(&opens, index);
                let real = opens[index].file.sync_all().map_err(|e| errno(&e));
                if real != expected.map(|_| ()) {
                    Err(format!("fsync #{index}: kvfs {real:?}, model {expected:?}"))
                } else {
                    if expected == Ok(true) {
                        settle(&mut opens[index], &model);
                    }
                    Ok(format!("fsync #{index}: {real:?}"))
                }
            }
            // close: a commit that ends the descriptor.
            80..=89 if !opens.is_empty() => {
                let index = rng.below(opens.len());
                let expected = model.commit(&opens, index).map(|_| ());
                let open = opens.remove(index);
                let real = close(open.file).map_err(|e| errno(&e));
                if real != expected {
                    Err(format!("close #{index}: kvfs {real:?}, model {expected:?}"))
                } else {
                    Ok(format!("close #{index}: {real:?}"))
                }
            }
            // unlink.
            90..=92 => {
                let real = fs::remove_file(&path);
                match (real, model.names.remove(name)) {
                    (Ok(()), Some(key)) => {
                        model.keys.get_mut(&key).unwrap().linked = false;
                        Ok(format!("unlink {name}"))
                    }
                    (Err(e), None) if e.kind() == ErrorKind::NotFound => {
                        Ok(format!("unlink {name}: ENOENT"))
                    }
                    (real, expected) => {
                        Err(format!("unlink {name}: kvfs {real:?}, model {expected:?}"))
                    }
                }
            }
            // rename over whatever the target is.
            93..=95 => {
                let to = NAMES[rng.below(NAMES.len())];
                let real = fs::rename(&path, mount.key(to));
                match (real, model.names.get(name).copied()) {
                    (Ok(()), Some(key)) => {
                        if to != name {
                            if let Some(old) = model.names.insert(to, key) {
                                model.keys.get_mut(&old).unwrap().linked = false;
                            }
                            model.names.remove(name);
                        }
                        Ok(format!("rename {name} {to}"))
                    }
                    (Err(e), None) if e.kind() == ErrorKind::NotFound => {
                        Ok(format!("rename {name}: ENOENT"))
                    }
                    (real, expected) => Err(format!(
                        "rename {name} {to}: kvfs {real:?}, model {expected:?}"
                    )),
                }
            }
            // truncate by path: a commit at once.
            96..=97 => {
                let len = rng.below(MAX_VALUE + 200);
                let real = File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(len as u64))
                    .map_err(|e| errno(&e));
                let held = model.held_bytes(&opens);
                let expected = match model.names.get(name) {
                    None => Err(libc::ENOENT),
                    Some(_) if len > MAX_VALUE => Err(libc::EFBIG),
                    Some(&key) if held - model.keys[&key].value.len() + len > MAX_BYTES => {
                        Err(libc::ENOSPC)
                    }
                    Some(&key) => {
                        model.keys.get_mut(&key).unwrap().value.resize(len, 0);
                        Ok(())
                    }
                };
                if real != expected {
                    Err(format!(
                        "truncate {name} {len}: kvfs {real:?}, model {expected:?}"
                    ))
                } else {
                    Ok(format!("truncate {name} {len}: {real:?}"))
                }
            }
            // A fresh get of the whole value, and its size.
            _ => {
                let real = fs::read(&path);
                let size = fs::metadata(&path).map(|m| m.len() as usize);
                match (real, size, model.names.get(name)) {
                    (Ok(value), Ok(size), Some(key))
                        if value == model.keys[key].value && size == value.len() =>
                    {
                        Ok(format!("get {name}: {} bytes", value.len()))
                    }
                    (Err(e), _, None) if e.kind() == ErrorKind::NotFound => {
                        Ok(format!("get {name}: ENOENT"))
                    }
                    (real, size, key) => Err(format!(
                        "get {name}: kvfs {:?} bytes (stat {size:?}), model {:?} bytes",
                        real.map(|v| v.len()),
                        key.map(|k| model.keys[k].value.len())
                    )),
                }
            }
        };
        match outcome {
            Ok(line) => log.push(format!("{step}: {line}")),
            Err(why) => {
                log.push(format!("{step}: DIVERGED: {why}"));
                let tail = log.join("\n");
                let open: Vec<String> = opens
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let real = view_of(&o.file);
                        let same = if real == o.model.view() {
                            "same"
                        } else {
                            "DIFFERENT"
                        };
                        format!(
                            "#{i}: {}: model {} bytes, kvfs {} bytes ({same})",
                            o.label,
                            o.model.view().len(),
                            real.len()
                        )
                    })
                    .collect();
                return Err(format!(
                    "seed {seed}, step {step}: {why}\nsteps:\n{tail}\nopen after the step:\n{}\n{}",
                    open.join("\n"),
                    mount.describe()
                ));
            }
        }
    }
    for open in opens.drain(..) {
        drop(open.file);
    }
    Ok(())
}

/// What a descriptor sees from offset 0, read with pread.
fn view_of(file: &File) -> Vec<u8> {
    let mut view = Vec::new();
    let mut buf = vec![0; 4096];
    while let Ok(n @ 1..) = file.read_at(&mut buf, view.len() as u64) {
        view.extend_from_slice(&buf[..n]);
    }
    view
}

/// After a commit, a descriptor's model starts again from what it committed.
fn settle(open: &mut Open, model: &Model) {
    let committed = model.keys[&open.key].value.clone();
    open.model = match &open.model {
        ModelFile::Replace { append, .. } => ModelFile::Replace {
            view: committed,
            dirty: false,
            append: *append,
        },
        ModelFile::Append { .. } => ModelFile::Append {
            base: committed,
            tail: Vec::new(),
        },
        ModelFile::Reader { snapshot } => ModelFile::Reader {
            snapshot: snapshot.clone(),
        },
    };
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("KVFS_MODEL_SEED") {
        return vec![seed.parse().expect("KVFS_MODEL_SEED is a number")];
    }
    let runs: u64 =
        std::env::var("KVFS_MODEL_RUNS").map_or(30, |n| n.parse().expect("KVFS_MODEL_RUNS"));
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (start..start + runs).collect()
}

#[test]
fn random_operation_sequences_match_the_model() {
    let seeds = seeds();
    println!("model: seeds {}..={}", seeds[0], seeds[seeds.len() - 1]);
    for &seed in &seeds {
        if let Err(why) = run(seed) {
            panic!("kvfs diverged from the model; replay with KVFS_MODEL_SEED={seed}\n{why}");
        }
    }
    println!("model: {} sequences of {STEPS} steps matched", seeds.len());
}
