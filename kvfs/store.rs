// SPDX-License-Identifier: GPL-2.0

//! What put, get and delete mean: keys, their committed versions, and the
//! private state of each open descriptor.
//!
//! A key holds one committed [`Version`] at a time. A version is immutable and
//! reference counted: readers hold the version that was current when they
//! opened the key, writers collect their writes in a private buffer and
//! [`Writer::commit`] swaps a new version in under the key's mutex. Nothing
//! here touches a kernel pointer; the VFS glue in `vfs.rs` calls in.
//!
//! Not done here: time stamps and inode sizes, which belong to the inode and
//! are updated by the caller through the hook passed to each commit.

use crate::limits::{Limits, Refusal, SharedLimits, Usage};
use crate::options::Options;
use kernel::alloc::{flags::GFP_KERNEL_ACCOUNT, KVVec};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex, UniqueArc};

/// The longest value kept inside its version's own allocation. A version
/// of a value this short is one allocation of 64 bytes (the reference
/// count, the length and the bytes), so a get of it touches one object
/// fewer and a put allocates one object fewer.
const INLINE: usize = 48;

/// Where a committed value's bytes are.
enum Bytes {
    /// Up to [`INLINE`] bytes, in the version itself.
    Inline { len: u8, data: [u8; INLINE] },
    /// Longer values, in a buffer of their own.
    Buffer(KVVec<u8>),
}

/// The bytes of one committed value. Never changed once committed.
pub(crate) struct Value {
    bytes: Bytes,
}

// The version's allocation is the value after a reference count, padded to
// the value's alignment: 64 bytes, a slab size of its own.
const _: () = assert!(core::mem::size_of::<Value>() + core::mem::align_of::<Value>() <= 64);

/// A committed value, shared by the key and every descriptor that reads it.
pub(crate) type Version = Arc<Value>;

impl Value {
    /// The value of `bytes`, which it keeps, or copies in and frees when
    /// they are short enough to be kept inline.
    fn new(bytes: KVVec<u8>) -> Value {
        let bytes = match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut data = [0; INLINE];
                data[..bytes.len()].copy_from_slice(&bytes);
                Bytes::Inline { len, data }
            }
            _ => Bytes::Buffer(bytes),
        };
        Value { bytes }
    }

    fn empty() -> Result<Version> {
        Ok(Arc::new(Value::new(KVVec::new()), GFP_KERNEL_ACCOUNT)?)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline { len, data } => &data[..usize::from(*len)],
            Bytes::Buffer(bytes) => bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Copies into `out` what the value holds at `pos`, as a descriptor
    /// opened for reading only sees it: one version for its whole life.
    pub(crate) fn read(
        &self,
        pos: u64,
        out: &mut dyn FnMut(&[u8]) -> Result<usize>,
    ) -> Result<usize> {
        read_at(self.as_bytes(), pos, out)
    }
}

fn refusal_to_error(refusal: Refusal) -> Error {
    match refusal {
        Refusal::ValueTooLarge => EFBIG,
        Refusal::StoreFull => ENOSPC,
    }
}

/// One mounted store: its options, its limits and what it uses of them.
#[pin_data]
pub(crate) struct Store {
    /// The options as mounted or last remounted, for `/proc/mounts`.
    #[pin]
    options: Mutex<Options>,
    /// The limits of `options`, read without a lock on every commit.
    limits: SharedLimits,
    usage: Usage,
}

impl Store {
    pub(crate) fn new(initial: Options) -> Result<Arc<Store>> {
        Arc::pin_init(
            pin_init!(Store {
                options <- kernel::new_mutex!(initial, "kvfs_store_options"),
                limits: SharedLimits::new(initial.limits),
                usage: Usage::new(),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn options(&self) -> Options {
        *self.options.lock()
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits.load()
    }

    pub(crate) fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Puts new options in force. Limits below what the store holds are
    /// refused with EINVAL and nothing changes. The root directory's mode
    /// and owner are set at mount only.
    pub(crate) fn reconfigure(&self, new: Options) -> Result {
        let mut options = self.options.lock();
        self.limits
            .replace(new.limits, &self.usage)
            .map_err(|_| EINVAL)?;
        options.limits = new.limits;
        Ok(())
    }
}

/// One of a store's `max_keys` slots, held by a key or a namespace and
/// given back when dropped, on every path, failed creations included.
struct Slot {
    store: Arc<Store>,
}

impl Slot {
    fn take(store: &Arc<Store>) -> Result<Slot> {
        store
            .usage
            .reserve_key(&store.limits())
            .map_err(refusal_to_error)?;
        Ok(Slot {
            store: store.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.store.usage.release_key();
    }
}

/// One namespace (directory) below the root: holds a slot of the store's
/// `max_keys`, so that directories cannot grow without bound either.
pub(crate) struct Namespace {
    _slot: Slot,
}

impl Namespace {
    /// Takes a slot in `store` for a new namespace.
    pub(crate) fn create(store: &Arc<Store>) -> Result<Arc<Namespace>> {
        let slot = Slot::take(store)?;
        Ok(Arc::new(Namespace { _slot: slot }, GFP_KERNEL_ACCOUNT)?)
    }
}

/// One key: its committed version, guarded by the key's own mutex.
#[pin_data(PinnedDrop)]
pub(crate) struct Key {
    #[pin]
    current: Mutex<Version>,
    slot: Slot,
}

impl Key {
    /// Prepares an empty key in `store`, taking one of its key slots; the
    /// caller puts it in its place, which is beside its inode. Everything
    /// that can fail happens here, so putting it in place cannot.
    pub(crate) fn new(store: &Arc<Store>) -> Result<impl PinInit<Key>> {
        let slot = Slot::take(store)?;
        let empty = Value::empty()?;
        Ok(pin_init!(Key {
            current <- kernel::new_mutex!(empty, "kvfs_key"),
            slot,
        }))
    }

    fn store(&self) -> &Store {
        &self.slot.store
    }

    /// The version current now.
    pub(crate) fn snapshot(&self) -> Version {
        self.current.lock().clone()
    }

    /// Commits a new version built by `make` from the current one, unless a
    /// limit refuses it. `publish` runs under the key's mutex with the new
    /// length, so that whatever it records (the inode's size and times) is
    /// ordered like the commits themselves.
    fn commit_with(
        &self,
        make: impl FnOnce(&[u8]) -> Result<KVVec<u8>>,
        publish: &mut dyn FnMut(usize),
    ) -> Result<Version> {
        let mut current = self.current.lock();
        let bytes = make(current.as_bytes())?;
        self.install(&mut current, bytes, publish)
            .map_err(|(e, _)| e)
    }

    /// Commits `bytes` as the new version. On failure the bytes come back
    /// with the error, so the caller keeps them pending.
    fn commit_bytes(
        &self,
        bytes: KVVec<u8>,
        publish: &mut dyn FnMut(usize),
    ) -> core::result::Result<Version, (Error, KVVec<u8>)> {
        let mut current = self.current.lock();
        self.install(&mut current, bytes, publish)
    }

    fn install(
        &self,
        current: &mut Version,
        bytes: KVVec<u8>,
        publish: &mut dyn FnMut(usize),
    ) -> core::result::Result<Version, (Error, KVVec<u8>)> {
        // Allocate the version's header first: after the limit check nothing
        // may fail, so a refused or failed commit leaves the old version.
        let slot = match UniqueArc::<Value>::new_uninit(GFP_KERNEL_ACCOUNT) {
            Ok(slot) => slot,
            Err(_) => return Err((ENOMEM, bytes)),
        };
        let limits = self.store().limits();
        let (old_len, new_len) = (current.len(), bytes.len());
        if let Err(refusal) =
            self.store()
                .usage
                .resize_value(old_len as u64, new_len as u64, &limits)
        {
            return Err((refusal_to_error(refusal), bytes));
        }
        let version: Version = slot.write(Value::new(bytes)).into();
        *current = version.clone();
        publish(new_len);
        Ok(version)
    }

    /// Commits the current value cut or zero-extended to `len` bytes.
    pub(crate) fn truncate(&self, len: u64, publish: &mut dyn FnMut(usize)) -> Result {
        let len = self.checked_len(len)?;
        self.commit_with(|current| resized_copy(current, len), publish)?;
        Ok(())
    }

    fn checked_len(&self, len: u64) -> Result<usize> {
        if len > self.store().limits().max_value {
            return Err(EFBIG);
        }
        usize::try_from(len).map_err(|_| EFBIG)
    }
}

#[pinned_drop]
impl PinnedDrop for Key {
    fn drop(self: Pin<&mut Self>) {
        // The slot gives itself back; the committed bytes are given back here.
        let len = self.current.lock().len();
        self.store().usage.release_value(len as u64);
    }
}

/// Copies `bytes` into a new buffer of `len` bytes, cutting or zero-filling.
fn resized_copy(bytes: &[u8], len: usize) -> Result<KVVec<u8>> {
    let mut copy = KVVec::with_capacity(len, GFP_KERNEL_ACCOUNT)?;
    let kept = bytes.len().min(len);
    copy.extend_from_slice(&bytes[..kept], GFP_KERNEL_ACCOUNT)?;
    copy.extend_with(len - kept, 0, GFP_KERNEL_ACCOUNT)?;
    Ok(copy)
}

/// Copies into `out` what `view` holds at `pos`; returns the count copied.
fn read_at(view: &[u8], pos: u64, out: &mut dyn FnMut(&[u8]) -> Result<usize>) -> Result<usize> {
    let start = match usize::try_from(pos) {
        Ok(start) if start < view.len() => start,
        _ => return Ok(0),
    };
    out(&view[start..])
}

/// How a writer's bytes become the next version.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// The private buffer replaces the value.
    Replace,
    /// The private buffer is appended to the value current at commit.
    Append,
}

/// What a writer has written and not yet committed.
struct Pending {
    /// The version the writer started from, or last committed.
    base: Version,
    /// Replace: the whole next value, once the writer has changed anything
    /// (an O_TRUNC open starts with an empty one). Append: the bytes to
    /// append, once there are any. A commit is due exactly when it is set.
    edit: Option<KVVec<u8>>,
}

/// A descriptor opened for writing. Its writes stay private until
/// [`Writer::commit`]. The key is not kept here: the open file keeps its
/// inode, and with it the key, alive, and every call that needs the key is
/// given it; it must be the key the writer was opened on.
#[pin_data]
pub(crate) struct Writer {
    mode: WriteMode,
    #[pin]
    pending: Mutex<Pending>,
}

impl Writer {
    /// Starts a writer on `key`: empty when `truncate`, otherwise from the
    /// current version.
    pub(crate) fn open(key: &Key, mode: WriteMode, truncate: bool) -> Result<Pin<KBox<Writer>>> {
        let base = key.snapshot();
        // O_TRUNC decides what the commit does: it replaces the value, even
        // with O_APPEND, whose writes then go to the end of the new value.
        let (mode, edit) = if truncate {
            (WriteMode::Replace, Some(KVVec::new()))
        } else {
            (mode, None)
        };
        KBox::pin_init(
            pin_init!(Writer {
                mode,
                pending <- kernel::new_mutex!(Pending { base, edit }, "kvfs_writer"),
            }),
            GFP_KERNEL,
        )
    }

    /// Length of the value as this descriptor sees it.
    pub(crate) fn len(&self) -> usize {
        let pending = self.pending.lock();
        view_len(self.mode, &pending)
    }

    /// Reads this descriptor's view: its pending value, writes included.
    pub(crate) fn read(
        &self,
        pos: u64,
        out: &mut dyn FnMut(&[u8]) -> Result<usize>,
    ) -> Result<usize> {
        let pending = self.pending.lock();
        let base = pending.base.as_bytes();
        match (self.mode, &pending.edit) {
            (WriteMode::Replace, Some(edit)) => read_at(edit, pos, out),
            (WriteMode::Replace, None) | (WriteMode::Append, None) => read_at(base, pos, out),
            (WriteMode::Append, Some(tail)) => {
                // The view is the base followed by the appended bytes.
                let base_len = base.len() as u64;
                let mut copied = 0;
                if pos < base_len {
                    copied = read_at(base, pos, out)?;
                    if (copied as u64) < base_len - pos {
                        // The caller's buffer is full.
                        return Ok(copied);
                    }
                }
                let tail_pos = (pos + copied as u64).saturating_sub(base_len);
                match read_at(tail, tail_pos, out) {
                    Ok(more) => Ok(copied + more),
                    Err(_) if copied > 0 => Ok(copied),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Writes `len` bytes at `pos`, or at the end of this descriptor's view
    /// when `append` or in append mode, filled by `fill`,
    /// which returns how many it could supply. Returns the count written and
    /// the position after it.
    pub(crate) fn write(
        &self,
        key: &Key,
        pos: u64,
        len: usize,
        append: bool,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<(usize, u64)> {
        let max_value = key.store().limits().max_value;
        let mut pending = self.pending.lock();
        let start = if append || self.mode == WriteMode::Append {
            view_len(self.mode, &pending) as u64
        } else {
            pos
        };
        let end = start.checked_add(len as u64).ok_or(EFBIG)?;
        if end > max_value {
            return Err(EFBIG);
        }
        let end = usize::try_from(end).map_err(|_| EFBIG)?;

        let base_len = pending.base.len();
        let (edit_start, edit_end) = match self.mode {
            WriteMode::Replace => (start as usize, end),
            WriteMode::Append => (start as usize - base_len, end - base_len),
        };
        let (mut edit, fresh) = match pending.edit.take() {
            Some(edit) => (edit, false),
            None => match self.mode {
                WriteMode::Replace => (resized_copy(pending.base.as_bytes(), base_len)?, true),
                WriteMode::Append => (KVVec::new(), true),
            },
        };
        let written = write_into(&mut edit, edit_start, edit_end, fill);
        // A fresh edit that received nothing is dropped: nothing changed, and
        // nothing is due for commit.
        if !fresh || matches!(written, Ok(_)) {
            pending.edit = Some(edit);
        }
        let copied = written?;
        Ok((copied, start + copied as u64))
    }

    /// Resizes this descriptor's pending value to `len` bytes and commits it.
    pub(crate) fn truncate(&self, key: &Key, len: u64, publish: &mut dyn FnMut(usize)) -> Result {
        if self.mode == WriteMode::Append {
            // An appender has no value of its own to cut; cut the key's.
            return key.truncate(len, publish);
        }
        let len = key.checked_len(len)?;
        let mut pending = self.pending.lock();
        let resized = match &pending.edit {
            Some(edit) => resized_copy(edit, len)?,
            None => resized_copy(pending.base.as_bytes(), len)?,
        };
        pending.edit = Some(resized);
        self.commit_locked(key, &mut pending, publish)
    }

    /// Makes this descriptor's writes the key's current version. Does nothing
    /// when there is nothing new. On failure nothing already stored changes
    /// and the writes stay pending.
    pub(crate) fn commit(&self, key: &Key, publish: &mut dyn FnMut(usize)) -> Result {
        let mut pending = self.pending.lock();
        self.commit_locked(key, &mut pending, publish)
    }

    /// Drops whatever this descriptor has pending, committing nothing.
    pub(crate) fn discard(&self) {
        self.pending.lock().edit = None;
    }

    fn commit_locked(
        &self,
        key: &Key,
        pending: &mut Pending,
        publish: &mut dyn FnMut(usize),
    ) -> Result {
        let Some(edit) = pending.edit.take() else {
            return Ok(());
        };
        let version = match self.mode {
            WriteMode::Replace => match key.commit_bytes(edit, publish) {
                Ok(version) => version,
                Err((e, edit)) => {
                    pending.edit = Some(edit);
                    return Err(e);
                }
            },
            WriteMode::Append => {
                let tail: &[u8] = &edit;
                let committed = key.commit_with(
                    |current| {
                        let mut next = resized_copy(current, current.len())?;
                        next.extend_from_slice(tail, GFP_KERNEL_ACCOUNT)?;
                        Ok(next)
                    },
                    publish,
                );
                match committed {
                    Ok(version) => version,
                    Err(e) => {
                        pending.edit = Some(edit);
                        return Err(e);
                    }
                }
            }
        };
        pending.base = version;
        Ok(())
    }
}

/// Writes into `edit[start..end]` what `fill` supplies, growing `edit` with
/// zeros as needed; returns the count supplied. After a short copy (a fault
/// in the caller's buffer) the value ends where the copied bytes end, or
/// where it ended before; with nothing copied the call fails with EFAULT.
fn write_into(
    edit: &mut KVVec<u8>,
    start: usize,
    end: usize,
    fill: &mut dyn FnMut(&mut [u8]) -> usize,
) -> Result<usize> {
    let old_len = edit.len();
    if old_len < end {
        edit.extend_with(end - old_len, 0, GFP_KERNEL_ACCOUNT)?;
    }
    let copied = fill(&mut edit[start..end]);
    let kept = old_len.max(start + copied);
    if kept < edit.len() {
        *edit = resized_copy(edit, kept)?;
    }
    if copied == 0 {
        return Err(EFAULT);
    }
    Ok(copied)
}

fn view_len(mode: WriteMode, pending: &Pending) -> usize {
    match (mode, &pending.edit) {
        (WriteMode::Replace, Some(edit)) => edit.len(),
        (WriteMode::Append, Some(tail)) => pending.base.len() + tail.len(),
        (_, None) => pending.base.len(),
    }
}
