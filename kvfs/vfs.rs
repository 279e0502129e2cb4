// SPDX-License-Identifier: GPL-2.0

//! The boundary between kvfs and the kernel's VFS: the filesystem type, the
//! operation tables and the C callbacks in them.
//!
//! Every raw pointer and every `bindings::` item of kvfs lives in this file.
//! Each callback turns its C arguments into the safe types of `store.rs`,
//! calls in, and turns the result back into what the VFS expects. Directory
//! entries, lookups, readdir, unlink and rename are the VFS's own `simple_*`
//! helpers from libfs, as on ramfs: the dentry cache is the namespace.
//!
//! What kvfs does not support fails here with a clean errno: there is no
//! `mmap` (ENODEV), and no `link`, `symlink` or `mknod` (EPERM), all by
//! leaving the operation out, which is how the VFS learns it is missing.
//! The filesystem is mounted through the legacy `mount` callback because the
//! kernel crate's bindings do not cover `fs_context.h`; see docs/design.md.

use crate::options::Options;
use crate::store::{Key, Namespace, Store, Value, WriteMode, Writer};
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::fmt::Write;
use core::mem::MaybeUninit;
use core::mem::{offset_of, size_of};
use core::ptr::{addr_of, addr_of_mut, drop_in_place, null_mut};
use core::sync::atomic::{AtomicI64, AtomicPtr, Ordering};
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// The magic number in `statfs`'s `f_type` ("kvfs" in ASCII).
const KVFS_MAGIC: c_ulong = 0x6b76_6673;

/// `FMODE_WRITE` from `include/linux/fs.h`; bindgen cannot evaluate its cast.
const FMODE_WRITE: u32 = 1 << 1;
/// `IOCB_APPEND` from `include/linux/fs.h`, which is `RWF_APPEND` of
/// `include/uapi/linux/fs.h`; bindgen cannot evaluate its cast.
const IOCB_APPEND: c_int = 0x10;

/// Returns a value of `T` with every byte zero, for C structures whose
/// unused members must be zero (NULL operations).
///
/// # Safety
///
/// All-zero bytes must be a valid `T`; they are for the plain C structures
/// of `bindings` (integers, raw pointers, `Option` of function pointers).
const unsafe fn zeroed<T>() -> T {
    // SAFETY: The caller promises that all-zero bytes are a valid `T`.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// A C structure the kernel reads, and sometimes writes, from any CPU.
#[repr(transparent)]
struct Shared<T>(UnsafeCell<T>);

// SAFETY: Rust never forms references into a `Shared`; it only hands out the
// raw pointer, and the kernel serialises its own accesses to these structures
// (operation tables are only read, `file_system_type` is written under
// `file_systems_lock` at registration).
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    const fn get(&self) -> *mut T {
        self.0.get()
    }
}

// Taking the address of an extern static does not access it.
const THIS_MODULE: *mut bindings::module = addr_of_mut!(bindings::__this_module);

static FS_TYPE: Shared<bindings::file_system_type> = Shared::new(bindings::file_system_type {
    name: c"kvfs".as_ptr().cast(),
    mount: Some(kvfs_mount),
    kill_sb: Some(kvfs_kill_sb),
    owner: THIS_MODULE,
    // SAFETY: The remaining members of `file_system_type` may be zero.
    ..unsafe { zeroed() }
});

static SUPER_OPS: Shared<bindings::super_operations> = Shared::new(bindings::super_operations {
    alloc_inode: Some(kvfs_alloc_inode),
    free_inode: Some(kvfs_free_inode),
    statfs: Some(kvfs_statfs),
    drop_inode: Some(bindings::generic_delete_inode),
    evict_inode: Some(kvfs_evict_inode),
    show_options: Some(kvfs_show_options),
    remount_fs: Some(kvfs_remount),
    // SAFETY: The remaining members of `super_operations` may be zero.
    ..unsafe { zeroed() }
});

static DIR_INODE_OPS: Shared<bindings::inode_operations> =
    Shared::new(bindings::inode_operations {
        create: Some(kvfs_create),
        lookup: Some(bindings::simple_lookup),
        unlink: Some(bindings::simple_unlink),
        mkdir: Some(kvfs_mkdir),
        rmdir: Some(bindings::simple_rmdir),
        rename: Some(bindings::simple_rename),
        setattr: Some(bindings::simple_setattr),
        getattr: Some(bindings::simple_getattr),
        // SAFETY: The remaining members of `inode_operations` may be zero.
        ..unsafe { zeroed() }
    });

static KEY_INODE_OPS: Shared<bindings::inode_operations> =
    Shared::new(bindings::inode_operations {
        setattr: Some(kvfs_setattr),
        getattr: Some(kvfs_getattr),
        // SAFETY: The remaining members of `inode_operations` may be zero.
        ..unsafe { zeroed() }
    });

// No `owner`: an open file holds its mount, the mount its super block, and
// the super block the module (through `FS_TYPE.owner`), so a module
// reference per open file would only add a shared counter to every get.
static KEY_FILE_OPS: Shared<bindings::file_operations> = Shared::new(bindings::file_operations {
    llseek: Some(kvfs_llseek),
    read_iter: Some(kvfs_read_iter),
    write_iter: Some(kvfs_write_iter),
    open: Some(kvfs_open),
    flush: Some(kvfs_flush),
    release: Some(kvfs_release),
    fsync: Some(kvfs_fsync),
    splice_read: Some(bindings::copy_splice_read),
    splice_write: Some(bindings::iter_file_splice_write),
    // SAFETY: The remaining members of `file_operations` may be zero.
    ..unsafe { zeroed() }
});

/// The registration of the `kvfs` filesystem type and the cache its inodes
/// come from; unregisters and destroys them on drop.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // `Registration` is only built in module init, so this runs once,
        // before any kvfs inode can be allocated.
        let mut args = bindings::kmem_cache_args {
            ctor: Some(kvfs_init_inode_once),
            ..Default::default()
        };
        let flags = (1 << bindings::_slab_flag_bits__SLAB_RECLAIM_ACCOUNT)
            | (1 << bindings::_slab_flag_bits__SLAB_ACCOUNT);
        // The name is a static C string, and `args` names a constructor for
        // objects of the given size.
        // SAFETY: Both are valid for the call, as `__kmem_cache_create_args` requires.
        let cache = unsafe {
            bindings::__kmem_cache_create_args(
                c"kvfs_inode".as_ptr().cast(),
                size_of::<KvfsInode>() as c_uint,
                &mut args,
                flags,
            )
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        INODE_CACHE.store(cache, Ordering::Release);
        // SAFETY: `FS_TYPE` is a static that outlives the registration.
        let result = unsafe { bindings::register_filesystem(FS_TYPE.get()) };
        if let Err(e) = kernel::error::to_result(result) {
            // SAFETY: Without the filesystem type, nothing was allocated from the cache.
            unsafe { bindings::kmem_cache_destroy(cache) };
            return Err(e);
        }
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // No kvfs is mounted now: every super block holds a reference on the
        // module through `FS_TYPE.owner`, so unloading waits for unmounts, and
        // every inode was evicted with its super block. `rcu_barrier` waits for
        // the RCU callbacks that free inodes (`kvfs_free_inode`).
        // SAFETY: `FS_TYPE` and the cache are those `new` set up, and unused now.
        unsafe {
            bindings::unregister_filesystem(FS_TYPE.get());
            bindings::rcu_barrier();
            bindings::kmem_cache_destroy(INODE_CACHE.load(Ordering::Acquire));
        }
    }
}

/// Converts a kvfs result into the `int` a VFS callback returns.
fn to_int(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Converts a byte-count result into the `ssize_t` a VFS callback returns.
fn to_ssize(result: Result<usize>) -> isize {
    match result {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

// ---------------------------------------------------------------------------
// Super block: mount, options, statfs, unmount.
// ---------------------------------------------------------------------------

/// Total memory of the machine in bytes, for the default limits.
fn total_ram() -> u64 {
    // SAFETY: `sysinfo` is a plain C structure; all-zero is valid.
    let mut info: bindings::sysinfo = unsafe { zeroed() };
    // SAFETY: `si_meminfo` only writes into the structure it is given.
    unsafe { bindings::si_meminfo(&mut info) };
    (info.totalram as u64).saturating_mul(info.mem_unit as u64)
}

/// Reads the option string mount(2) passed, which may be NULL.
///
/// # Safety
///
/// `data` is NULL or points to a NUL-terminated string that lives as long as
/// the returned reference.
unsafe fn option_text<'a>(data: *const c_void) -> Result<&'a str> {
    if data.is_null() {
        return Ok("");
    }
    // SAFETY: The caller promises a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(data.cast::<core::ffi::c_char>()) };
    text.to_str().map_err(|_| {
        pr_err!("mount options are not valid UTF-8\n");
        EINVAL
    })
}

/// Parses `text` on top of `options`, logging a refusal.
fn apply_options(options: &mut Options, text: &str) -> Result {
    options.apply(text).map_err(|e| {
        pr_err!("{e}\n");
        EINVAL
    })
}

unsafe extern "C" fn kvfs_mount(
    fs_type: *mut bindings::file_system_type,
    flags: c_int,
    _dev_name: *const c_char,
    data: *mut c_void,
) -> *mut bindings::dentry {
    // `mount_nodev` calls `kvfs_fill_super` on a new super block.
    // SAFETY: The VFS passes our own type and the mount data, as `mount_nodev` expects.
    unsafe { bindings::mount_nodev(fs_type, flags, data, Some(kvfs_fill_super)) }
}

unsafe extern "C" fn kvfs_fill_super(
    sb: *mut bindings::super_block,
    data: *mut c_void,
    _silent: c_int,
) -> c_int {
    // `mount_nodev` passes a new super block, locked and ours alone, and the
    // mount data, NUL-terminated, for the duration of the call.
    // SAFETY: Those are `fill_super`'s requirements.
    let result = unsafe { fill_super(sb, data) };
    to_int(result)
}

/// Sets up a new super block: options, store, root directory.
///
/// # Safety
///
/// `sb` is a new, exclusively held super block of type `kvfs`, and `data` is
/// NULL or a NUL-terminated string valid for the call.
unsafe fn fill_super(sb: *mut bindings::super_block, data: *mut c_void) -> Result {
    let mut options = Options::defaults(total_ram());
    // SAFETY: The caller promises `data` is NULL or NUL-terminated.
    apply_options(&mut options, unsafe { option_text(data) }?)?;
    let store = Store::new(options)?;

    // SAFETY: The super block is ours alone until `fill_super` returns.
    unsafe {
        (*sb).s_maxbytes = bindings::loff_t::MAX;
        (*sb).s_blocksize = bindings::PAGE_SIZE as _;
        (*sb).s_blocksize_bits = bindings::PAGE_SHIFT as _;
        (*sb).s_magic = KVFS_MAGIC as _;
        (*sb).s_op = SUPER_OPS.get();
        (*sb).s_time_gran = 1;
        // INVARIANT: `s_fs_info` holds one reference to the store from here
        // until `kvfs_kill_sb`, which runs even when this function fails.
        (*sb).s_fs_info = Arc::into_raw(store).cast_mut().cast();
    }

    let mode = bindings::S_IFDIR as u16 | options.mode;
    // SAFETY: `sb` is a valid super block and there is no parent directory.
    let root = unsafe { new_inode(sb, null_mut(), mode, null_mut()) }?;
    // SAFETY: The root inode is new and not yet visible to anyone else.
    unsafe {
        (*root).i_uid = make_kuid(options.uid);
        (*root).i_gid = make_kgid(options.gid);
    }
    // `d_make_root` consumes the inode, and puts it on failure.
    // SAFETY: `root` is a new directory inode, referenced by nobody else.
    let dentry = unsafe { bindings::d_make_root(root) };
    if dentry.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: The super block is ours alone until `fill_super` returns.
    unsafe { (*sb).s_root = dentry };
    Ok(())
}

/// The kernel uid of `uid` in the initial user namespace, which maps every
/// id to itself. `make_kuid` is a static inline function that bindgen does
/// not cover; kvfs is not mountable from other user namespaces.
fn make_kuid(uid: u32) -> bindings::kuid_t {
    bindings::kuid_t { val: uid }
}

/// The kernel gid of `gid` in the initial user namespace; see [`make_kuid`].
fn make_kgid(gid: u32) -> bindings::kgid_t {
    bindings::kgid_t { val: gid }
}

/// The store of a mounted super block.
///
/// # Safety
///
/// `sb` is a kvfs super block whose `fill_super` succeeded and which has not
/// been killed.
unsafe fn store_of<'a>(sb: *const bindings::super_block) -> ArcBorrow<'a, Store> {
    // By the invariant of `fill_super`, `s_fs_info` holds a reference to the
    // store for as long as the super block lives.
    // SAFETY: The caller promises that the super block lives for `'a`.
    unsafe { ArcBorrow::from_raw((*sb).s_fs_info.cast::<Store>()) }
}

unsafe extern "C" fn kvfs_kill_sb(sb: *mut bindings::super_block) {
    // The VFS calls `kill_sb` once, on a super block of our type;
    // `kill_litter_super` drops the pinned dentries and evicts every inode.
    // SAFETY: `sb` is a kvfs super block being killed, as that requires.
    unsafe { bindings::kill_litter_super(sb) };
    // Every inode is gone, so nothing else uses the store; the reference
    // was taken in `fill_super`, unless it failed before that.
    // SAFETY: `sb` stays valid for the whole of `kill_sb`.
    let info = unsafe { (*sb).s_fs_info };
    if !info.is_null() {
        // SAFETY: `info` came from `Arc::into_raw` in `fill_super`.
        drop(unsafe { Arc::from_raw(info.cast::<Store>()) });
    }
}

unsafe extern "C" fn kvfs_remount(
    sb: *mut bindings::super_block,
    _flags: *mut c_int,
    data: *mut c_char,
) -> c_int {
    // The VFS remounts a mounted kvfs super block, passing the new options,
    // NUL-terminated, for the duration of the call.
    // SAFETY: Those are what `store_of` and `option_text` require.
    let (store, text) = unsafe { (store_of(sb), option_text(data.cast())) };
    to_int(text.and_then(|text| {
        let mut options = store.options();
        apply_options(&mut options, text)?;
        store.reconfigure(options).map_err(|e| {
            pr_err!("new limits are below what the store already holds\n");
            e
        })
    }))
}

unsafe extern "C" fn kvfs_show_options(
    m: *mut bindings::seq_file,
    root: *mut bindings::dentry,
) -> c_int {
    // SAFETY: The VFS passes the root of a mounted kvfs.
    let store = unsafe { store_of((*root).d_sb) };
    let mut text = TextBuf::new();
    if write!(text, "{}", store.options()).is_err() {
        return EINVAL.to_errno();
    }
    let bytes = text.as_bytes();
    // SAFETY: `m` is the seq_file being filled; `bytes` is valid for reads.
    unsafe { bindings::seq_write(m, bytes.as_ptr().cast(), bytes.len()) };
    0
}

/// A small stack buffer that `write!` can format into.
struct TextBuf {
    bytes: [u8; 192],
    len: usize,
}

impl TextBuf {
    fn new() -> Self {
        Self {
            bytes: [0; 192],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Write for TextBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `struct kstatfs` of `include/linux/statfs.h`, which the kernel crate's
/// bindings leave opaque because they do not include that header.
#[repr(C)]
struct KStatfs {
    f_type: c_long,
    f_bsize: c_long,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [i32; 2],
    f_namelen: c_long,
    f_frsize: c_long,
    f_flags: c_long,
    f_spare: [c_long; 4],
}

unsafe extern "C" fn kvfs_statfs(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    // SAFETY: The VFS passes a dentry of a mounted kvfs.
    let store = unsafe { store_of((*dentry).d_sb) };
    let limits = store.limits();
    let usage = store.usage();
    let block = bindings::PAGE_SIZE as u64;
    let blocks = limits.max_bytes.div_ceil(block);
    let free_blocks = blocks.saturating_sub(usage.bytes().div_ceil(block));
    let buf = buf.cast::<KStatfs>();
    // `buf` is the caller's `struct kstatfs`, zeroed by `statfs_by_dentry`
    // before the call.
    // SAFETY: `KStatfs` has the layout of the `struct kstatfs` at `buf`.
    unsafe {
        (*buf).f_type = KVFS_MAGIC as c_long;
        (*buf).f_bsize = block as c_long;
        (*buf).f_namelen = bindings::NAME_MAX as c_long;
        (*buf).f_blocks = blocks;
        (*buf).f_bfree = free_blocks;
        (*buf).f_bavail = free_blocks;
        (*buf).f_files = limits.max_keys;
        (*buf).f_ffree = limits.max_keys.saturating_sub(usage.keys());
    }
    0
}

// ---------------------------------------------------------------------------
// Inodes: creation, eviction, attributes.
// ---------------------------------------------------------------------------

/// What an inode stands for in the store.
enum Entry<K> {
    /// A regular file: its key, to be put in place beside the inode.
    Key(K),
    /// A directory below the root.
    Namespace(Arc<Namespace>),
    /// The root directory, which takes no slot of the store.
    Root,
}

/// A kvfs inode: the VFS's inode, with the key of a regular file beside it,
/// so that a get finds both in one object.
#[repr(C)]
struct KvfsInode {
    /// Set up by `new_inode` for a regular file and dropped by
    /// `kvfs_evict_inode`, while `has_key` is true.
    key: MaybeUninit<Key>,
    has_key: bool,
    inode: bindings::inode,
}

/// The cache kvfs inodes are allocated from, made by `Registration::new`.
static INODE_CACHE: AtomicPtr<bindings::kmem_cache> = AtomicPtr::new(null_mut());

/// The kvfs inode around `inode`.
///
/// # Safety
///
/// `inode` is an inode of a kvfs super block, so from `kvfs_alloc_inode`.
unsafe fn kvfs_inode_of(inode: *const bindings::inode) -> *mut KvfsInode {
    // As the caller promises, `inode` is the `inode` member of a `KvfsInode`.
    // SAFETY: That member sits at this offset from the start of the `KvfsInode`.
    unsafe {
        inode
            .byte_sub(offset_of!(KvfsInode, inode))
            .cast::<KvfsInode>()
            .cast_mut()
    }
}

unsafe extern "C" fn kvfs_init_inode_once(object: *mut c_void) {
    // The slab allocator constructs each new object of the inode cache once,
    // before it is ever handed out; the VFS requires `inode_init_once` on
    // every inode of a filesystem's own cache.
    // SAFETY: `object` is a new, unused object of that cache, a `KvfsInode`.
    unsafe { bindings::inode_init_once(addr_of_mut!((*object.cast::<KvfsInode>()).inode)) };
}

unsafe extern "C" fn kvfs_alloc_inode(sb: *mut bindings::super_block) -> *mut bindings::inode {
    // The cache exists from module init, before any mount, until exit, after
    // every unmount. The allocation is charged to the caller's memory cgroup
    // (SLAB_ACCOUNT) and listed on the super block's LRU, as `alloc_inode_sb`,
    // a static inline function, does.
    // SAFETY: The VFS allocates an inode for the live super block `sb`.
    unsafe {
        let object = bindings::kmem_cache_alloc_lru_noprof(
            INODE_CACHE.load(Ordering::Acquire),
            addr_of_mut!((*sb).s_inode_lru),
            bindings::GFP_KERNEL,
        )
        .cast::<KvfsInode>();
        if object.is_null() {
            return null_mut();
        }
        (*object).has_key = false;
        addr_of_mut!((*object).inode)
    }
}

unsafe extern "C" fn kvfs_free_inode(inode: *mut bindings::inode) {
    // The VFS frees an inode of ours once, after eviction dropped its key and
    // an RCU grace period passed.
    // SAFETY: `inode` came from `kvfs_alloc_inode` and nobody uses it any more.
    unsafe {
        bindings::kmem_cache_free(
            INODE_CACHE.load(Ordering::Acquire),
            kvfs_inode_of(inode).cast(),
        )
    };
}

fn is_regular(mode: u32) -> bool {
    mode & bindings::S_IFMT == bindings::S_IFREG
}

/// Allocates an inode of `mode` under `dir` (NULL for the root). A regular
/// file gets a new, empty key of the super block's store, and a directory
/// below the root a namespace slot.
///
/// # Safety
///
/// `sb` is a kvfs super block whose store is set up; `dir` is NULL or one of
/// its directory inodes; `idmap` is NULL or the idmap of the mount.
unsafe fn new_inode(
    sb: *mut bindings::super_block,
    dir: *mut bindings::inode,
    mode: u16,
    idmap: *mut bindings::mnt_idmap,
) -> Result<*mut bindings::inode> {
    // SAFETY: The caller promises the store is set up.
    let store: Arc<Store> = unsafe { store_of(sb) }.into();
    let entry = if is_regular(mode.into()) {
        Entry::Key(Key::new(&store)?)
    } else if dir.is_null() {
        Entry::Root
    } else {
        Entry::Namespace(Namespace::create(&store)?)
    };

    // SAFETY: `sb` is a valid super block.
    let inode = unsafe { bindings::new_inode(sb) };
    if inode.is_null() {
        return Err(ENOMEM);
    }
    let idmap = if idmap.is_null() {
        // The kernel's identity idmap, for the root directory.
        addr_of_mut!(bindings::nop_mnt_idmap)
    } else {
        idmap
    };
    // SAFETY: `inode` is new and ours alone; `dir` is NULL or a directory.
    unsafe {
        (*inode).i_ino = bindings::get_next_ino() as _;
        bindings::inode_init_owner(idmap, inode, dir, mode);
        bindings::simple_inode_init_ts(inode);
        // INVARIANT: A regular file has its key beside it, and a directory
        // but the root one reference to its namespace in `i_private` (else
        // NULL), until `kvfs_evict_inode`.
        match entry {
            Entry::Key(key) => {
                (*inode).i_op = KEY_INODE_OPS.get();
                (*inode).__bindgen_anon_3.i_fop = KEY_FILE_OPS.get();
                let object = kvfs_inode_of(inode);
                // `__pinned_init` is sound here: the key's place is empty
                // (`has_key` is false) and stays where it is until the
                // inode is freed, which keeps the key pinned. `Key::new`
                // did all that can fail.
                let Ok(()) = key.__pinned_init((*object).key.as_mut_ptr());
                (*object).has_key = true;
            }
            Entry::Namespace(_) | Entry::Root => {
                (*inode).i_op = DIR_INODE_OPS.get();
                (*inode).__bindgen_anon_3.i_fop = addr_of!(bindings::simple_dir_operations);
                // A directory starts with two links: its entry and ".".
                bindings::inc_nlink(inode);
                if let Entry::Namespace(namespace) = entry {
                    (*inode).i_private = Arc::into_raw(namespace).cast_mut().cast();
                }
            }
        }
    }
    Ok(inode)
}

/// Creates an inode for a new entry `dentry` in `dir` and pins the entry,
/// as every name in an in-memory filesystem must stay in the dcache.
///
/// # Safety
///
/// The VFS holds `dir` locked and `dentry` is a negative child of it.
unsafe fn make_entry(
    idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: u16,
) -> Result<*mut bindings::inode> {
    // SAFETY: `dir` belongs to a mounted kvfs, so its store is set up.
    let inode = unsafe { new_inode((*dir).i_sb, dir, mode, idmap) }?;
    // The extra reference pins the dentry until unlink or unmount
    // (`kill_litter_super`).
    // SAFETY: `dentry` is a negative child of the locked `dir`; `inode` is new.
    unsafe {
        bindings::d_instantiate(dentry, inode);
        bindings::lockref_get(addr_of_mut!((*dentry).d_lockref));
        let now = bindings::inode_set_ctime_current(dir);
        (*dir).i_mtime_sec = now.tv_sec;
        (*dir).i_mtime_nsec = now.tv_nsec as u32;
    }
    Ok(inode)
}

unsafe extern "C" fn kvfs_create(
    idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    let mode = (mode & !(bindings::S_IFMT as u16)) | bindings::S_IFREG as u16;
    // SAFETY: The VFS calls `create` with `dir` locked and `dentry` negative.
    to_int(unsafe { make_entry(idmap, dir, dentry, mode) }.map(|_| ()))
}

unsafe extern "C" fn kvfs_mkdir(
    idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    let mode = (mode & !(bindings::S_IFMT as u16)) | bindings::S_IFDIR as u16;
    // SAFETY: The VFS calls `mkdir` with `dir` locked and `dentry` negative.
    let result = unsafe { make_entry(idmap, dir, dentry, mode) };
    if result.is_ok() {
        // SAFETY: `dir` is locked; the new directory's ".." links to it.
        unsafe { bindings::inc_nlink(dir) };
    }
    to_int(result.map(|_| ()))
}

unsafe extern "C" fn kvfs_evict_inode(inode: *mut bindings::inode) {
    // SAFETY: The VFS evicts an inode of ours that nobody uses any more.
    let (entry, mode) = unsafe {
        bindings::truncate_inode_pages_final(addr_of_mut!((*inode).i_data));
        bindings::clear_inode(inode);
        let entry = (*inode).i_private;
        (*inode).i_private = null_mut();
        (entry, (*inode).i_mode)
    };
    if is_regular(mode.into()) {
        // By the invariant of `new_inode`, a regular file's key is set up while
        // `has_key` is true; it is dropped in place, where it was pinned.
        // SAFETY: A kvfs inode being evicted, whose key nobody uses any more.
        unsafe {
            let object = kvfs_inode_of(inode);
            if (*object).has_key {
                (*object).has_key = false;
                drop_in_place((*object).key.as_mut_ptr());
            }
        }
    } else if !entry.is_null() {
        // By the invariant of `new_inode`, a directory's `i_private` held a
        // reference from `Arc::into_raw`.
        // SAFETY: This gives that reference back, once, at eviction.
        drop(unsafe { Arc::from_raw(entry.cast::<Namespace>()) });
    }
}

/// The key of a regular file's inode.
///
/// # Safety
///
/// `inode` is a regular file of kvfs and stays alive for `'a`.
unsafe fn key_of<'a>(inode: *const bindings::inode) -> &'a Key {
    // By the invariant of `new_inode`, a regular file's key is set up beside
    // it until the inode is evicted.
    // SAFETY: The caller rules out eviction for `'a`.
    unsafe { (*kvfs_inode_of(inode)).key.assume_init_ref() }
}

/// Records a commit of `len` bytes in `inode`: its size, and its modification
/// and change times. Runs under the key's mutex.
///
/// # Safety
///
/// `inode` is a live kvfs inode.
unsafe fn publish_commit(inode: *mut bindings::inode, len: usize) {
    // `i_size` is an aligned 64-bit field; readers use `i_size_read`, which on
    // 64-bit is an acquire load, so this release store is exactly
    // `i_size_write`. Commits are serialised by the key's mutex, so sizes are
    // published in commit order.
    // SAFETY: The caller promises a live kvfs inode.
    unsafe {
        let size = addr_of_mut!((*inode).i_size).cast::<AtomicI64>();
        (*size).store(len as i64, Ordering::Release);
        (*inode).i_blocks = (len as u64).div_ceil(512);
        let now = bindings::inode_set_ctime_current(inode);
        (*inode).i_mtime_sec = now.tv_sec;
        (*inode).i_mtime_nsec = now.tv_nsec as u32;
    }
}

unsafe extern "C" fn kvfs_getattr(
    idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    _flags: c_uint,
) -> c_int {
    // `simple_getattr` would report page-cache pages as blocks; a key's
    // blocks are those of its committed value, kept in `i_blocks`.
    // SAFETY: The VFS passes a valid path of ours and a `kstat` to fill.
    unsafe {
        let inode = (*(*path).dentry).d_inode;
        bindings::generic_fillattr(idmap, request_mask, inode, stat);
    }
    0
}

unsafe extern "C" fn kvfs_setattr(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    // The VFS calls `setattr` on a positive dentry of ours with the inode
    // locked, and the attributes to change.
    // SAFETY: Those are what `setattr` requires.
    to_int(unsafe { setattr(idmap, dentry, attr) })
}

/// Changes a key's attributes. A size change commits a new version at once,
/// except the truncation that `open(O_TRUNC)` requests, which the writer's
/// own empty buffer already stands for.
///
/// # Safety
///
/// As for `kvfs_setattr`.
unsafe fn setattr(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> Result {
    // SAFETY: As the caller promises.
    let (inode, valid, size) = unsafe { ((*dentry).d_inode, (*attr).ia_valid, (*attr).ia_size) };
    // This checks permissions and limits (`s_maxbytes`, RLIMIT_FSIZE) of a
    // size change.
    // SAFETY: As the caller promises.
    kernel::error::to_result(unsafe { bindings::setattr_prepare(idmap, dentry, attr) })?;

    if valid & bindings::ATTR_SIZE != 0 && valid & bindings::ATTR_OPEN == 0 {
        let size = u64::try_from(size).map_err(|_| EINVAL)?;
        let mut publish = |len| {
            // SAFETY: `inode` is alive while the VFS holds the dentry.
            unsafe { publish_commit(inode, len) }
        };
        // A size change comes only for a regular file, whose inode the VFS
        // keeps alive during the call.
        // SAFETY: So `inode` is a live regular file of kvfs.
        let key = unsafe { key_of(inode) };
        // SAFETY: `ia_file` is set with ATTR_FILE, for ftruncate.
        let file = unsafe { (*attr).ia_file };
        match (valid & bindings::ATTR_FILE != 0).then(|| {
            // SAFETY: The VFS passes the open file of ftruncate.
            unsafe { handle_of(file) }
        }) {
            Some(Handle::Writer(writer)) => writer.truncate(key, size, &mut publish)?,
            _ => key.truncate(size, &mut publish)?,
        }
    }

    if valid & bindings::ATTR_OPEN != 0 {
        // The times of an O_TRUNC open change when its writer commits.
        // SAFETY: As the caller promises; `attr` is the caller's to adjust.
        unsafe { (*attr).ia_valid &= !(bindings::ATTR_MTIME | bindings::ATTR_CTIME) };
    }
    // Copies mode, owner and times. Size changes were handled above and are
    // not copied by `setattr_copy`.
    // SAFETY: As the caller promises.
    unsafe { bindings::setattr_copy(idmap, inode, attr) };
    Ok(())
}

// ---------------------------------------------------------------------------
// Open files: get (read) and put (write, commit).
// ---------------------------------------------------------------------------

/// The kvfs state of one open file, borrowed from its `private_data`.
///
/// What `private_data` holds depends on the open mode, which never changes
/// after open: a file opened for reading only holds one reference to the
/// version current at open, from `Arc::into_raw`, so that a get allocates
/// nothing of its own; a file opened for writing holds its `Writer`, from
/// `KBox::into_raw`.
enum Handle<'a> {
    /// Opened read-only: sees one version for its whole life.
    Reader(&'a Value),
    /// Opened for writing: holds its pending value.
    Writer(&'a Writer),
}

impl Handle<'_> {
    fn len(&self) -> usize {
        match self {
            Handle::Reader(version) => version.len(),
            Handle::Writer(writer) => writer.len(),
        }
    }
}

/// Whether `file` was opened for writing, which decides its handle's kind.
///
/// # Safety
///
/// `file` is a live file.
unsafe fn is_writer(file: *const bindings::file) -> bool {
    // `f_mode`'s FMODE_WRITE is set at open and never changed.
    // SAFETY: As the caller promises, `file` is live.
    unsafe { (*file).f_mode & FMODE_WRITE != 0 }
}

/// The handle of an open kvfs file.
///
/// # Safety
///
/// `file` is an open kvfs regular file, between `kvfs_open` and
/// `kvfs_release`, for the whole of `'a`.
unsafe fn handle_of<'a>(file: *mut bindings::file) -> Handle<'a> {
    // By the invariant of `kvfs_open`, `private_data` holds what the open
    // mode tells until release, and release is after `'a`.
    // SAFETY: As the caller promises.
    unsafe {
        let data = (*file).private_data;
        if is_writer(file) {
            Handle::Writer(&*data.cast::<Writer>())
        } else {
            Handle::Reader(&*data.cast::<Value>())
        }
    }
}

unsafe extern "C" fn kvfs_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // Both pointers are valid and the file is not yet visible to anyone else.
    // SAFETY: The VFS opens a regular file of ours.
    let (key, writing, f_flags) = unsafe { (key_of(inode), is_writer(file), (*file).f_flags) };
    let data: *mut c_void = if writing {
        let mode = if f_flags & bindings::O_APPEND != 0 {
            WriteMode::Append
        } else {
            WriteMode::Replace
        };
        let truncate = f_flags & bindings::O_TRUNC != 0;
        match Writer::open(key, mode, truncate) {
            // The writer is only ever used in place through `handle_of` and
            // dropped in place by `kvfs_release`.
            // SAFETY: So taking it out of its `Pin` never moves it.
            Ok(writer) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(writer) }).cast(),
            Err(e) => return e.to_errno(),
        }
    } else {
        Arc::into_raw(key.snapshot()).cast_mut().cast()
    };
    // INVARIANT: `private_data` owns what the open mode tells until release.
    // SAFETY: The file is ours alone during open.
    unsafe { (*file).private_data = data };
    0
}

/// Commits what the writer of `file` has pending, if it is a writer.
///
/// # Safety
///
/// `file` is an open kvfs regular file.
unsafe fn commit(file: *mut bindings::file) -> Result {
    // An open file keeps its inode, and so its key, alive.
    // SAFETY: As the caller promises.
    let (handle, inode, key) = unsafe {
        let inode = (*file).f_inode;
        (handle_of(file), inode, key_of(inode))
    };
    match handle {
        Handle::Writer(writer) => writer.commit(key, &mut |len| {
            // SAFETY: An open file keeps its inode alive.
            unsafe { publish_commit(inode, len) }
        }),
        Handle::Reader(_) => Ok(()),
    }
}

unsafe extern "C" fn kvfs_flush(file: *mut bindings::file, _id: bindings::fl_owner_t) -> c_int {
    // `flush` is called on every close of a descriptor of an open file of
    // ours, and the closing descriptor still holds a reference.
    // SAFETY: So the file and its `f_count` are live.
    let (handle, count) = unsafe {
        let count = addr_of_mut!((*file).f_count).cast::<AtomicI64>();
        (handle_of(file), (*count).load(Ordering::Relaxed))
    };
    let Handle::Writer(writer) = handle else {
        return 0;
    };
    // A put ends when the last descriptor of its open file is closed. While
    // another one exists (a dup, a copy in a child process, a system call in
    // progress on it), its holder may still write, so committing now could
    // publish half a value; the last close commits, or release does.
    if count > 1 {
        return 0;
    }
    // SAFETY: As above.
    match unsafe { commit(file) } {
        Ok(()) => 0,
        Err(e) => {
            // close(2) reports the failed put; it must not happen later.
            writer.discard();
            e.to_errno()
        }
    }
}

unsafe extern "C" fn kvfs_fsync(
    file: *mut bindings::file,
    _start: bindings::loff_t,
    _end: bindings::loff_t,
    _datasync: c_int,
) -> c_int {
    // SAFETY: The VFS syncs an open file of ours.
    to_int(unsafe { commit(file) })
}

unsafe extern "C" fn kvfs_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // Writes are still pending here if the last reference to the file went
    // without a close that saw itself last: two holders closed at once, or
    // a descriptor was in flight over a socket. Nobody is left to see an
    // error, so this commit is silent.
    // SAFETY: The VFS releases an open file of ours once, after its last use.
    let _ = unsafe { commit(file) };
    // By the invariant of `kvfs_open`, `private_data` owns what the open
    // mode tells.
    // SAFETY: Nothing uses the file after release, so this takes that back.
    unsafe {
        let data = (*file).private_data;
        if is_writer(file) {
            drop(KBox::from_raw(data.cast::<Writer>()));
        } else {
            drop(Arc::from_raw(data.cast::<Value>()));
        }
    }
    0
}

/// A view of a kernel `iov_iter`, the buffers of one read or write call.
struct IoVec(*mut bindings::iov_iter);

impl IoVec {
    fn count(&self) -> usize {
        // `self.0` is the live iterator of the current call (see the
        // constructors' callers).
        // SAFETY: `count` is in the anonymous struct active for every kind kvfs gets.
        unsafe { (*self.0).__bindgen_anon_1.__bindgen_anon_1.as_ref().count }
    }

    /// Copies `bytes` into the iterator; returns the count copied.
    fn copy_to(&mut self, bytes: &[u8]) -> usize {
        // The iterator is live and checks the user addresses it copies to.
        // SAFETY: `bytes` is valid for reads of its length.
        unsafe { bindings::_copy_to_iter(bytes.as_ptr().cast(), bytes.len(), self.0) }
    }

    /// Fills `bytes` from the iterator; returns the count copied.
    fn copy_from(&mut self, bytes: &mut [u8]) -> usize {
        // The iterator is live and checks the user addresses it copies from.
        // SAFETY: `bytes` is valid for writes of its length.
        unsafe { bindings::_copy_from_iter(bytes.as_mut_ptr().cast(), bytes.len(), self.0) }
    }
}

unsafe extern "C" fn kvfs_read_iter(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // The VFS reads an open file of ours through a live kiocb and iterator,
    // for the duration of the call.
    // SAFETY: So the kiocb, its file and the file's handle are live.
    let (handle, pos) = unsafe { (handle_of((*iocb).ki_filp), (*iocb).ki_pos) };
    let Ok(pos) = u64::try_from(pos) else {
        return EINVAL.to_errno() as isize;
    };
    let mut to = IoVec(to);
    let mut out = |bytes: &[u8]| {
        let wanted = bytes.len().min(to.count());
        match to.copy_to(&bytes[..wanted]) {
            0 if wanted > 0 => Err(EFAULT),
            n => Ok(n),
        }
    };
    let result = match handle {
        Handle::Reader(version) => version.read(pos, &mut out),
        Handle::Writer(writer) => writer.read(pos, &mut out),
    };
    if let Ok(n) = result {
        // SAFETY: As above; the position is ours to advance.
        unsafe { (*iocb).ki_pos += n as bindings::loff_t };
    }
    to_ssize(result)
}

unsafe extern "C" fn kvfs_write_iter(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // The VFS writes an open file of ours through a live kiocb and iterator,
    // for the duration of the call; an open file keeps its inode, and so its
    // key, alive.
    // SAFETY: So the kiocb, its file, the file's handle and its key are live.
    let (handle, key, pos, flags) = unsafe {
        let file = (*iocb).ki_filp;
        (
            handle_of(file),
            key_of((*file).f_inode),
            (*iocb).ki_pos,
            (*iocb).ki_flags,
        )
    };
    let Handle::Writer(writer) = handle else {
        return EBADF.to_errno() as isize;
    };
    let Ok(pos) = u64::try_from(pos) else {
        return EINVAL.to_errno() as isize;
    };
    let mut from = IoVec(from);
    let len = from.count();
    if len == 0 {
        return 0;
    }
    let append = flags & IOCB_APPEND != 0;
    let result = writer.write(key, pos, len, append, &mut |buf| from.copy_from(buf));
    to_ssize(result.map(|(written, end)| {
        // SAFETY: As above; the position is ours to advance.
        unsafe { (*iocb).ki_pos = end as bindings::loff_t };
        written
    }))
}

unsafe extern "C" fn kvfs_llseek(
    file: *mut bindings::file,
    offset: bindings::loff_t,
    whence: c_int,
) -> bindings::loff_t {
    // SEEK_END and SEEK_DATA are relative to the value this descriptor sees,
    // not to the inode's size, so that a reader keeps seeing one version.
    // SAFETY: The VFS seeks an open file of ours.
    unsafe {
        let eof = handle_of(file).len() as bindings::loff_t;
        let max = (*(*(*file).f_inode).i_sb).s_maxbytes;
        bindings::generic_file_llseek_size(file, offset, whence, max, eof)
    }
}
