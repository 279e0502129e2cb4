#!/usr/bin/env bash
# Runs inside the test VM as root: loads kvfs, mounts it at /mnt/kv, does one
# action, then unmounts, unloads and saves the kernel log.
#
# Usage: guest.sh ACTION OUT MODULE [TEST_BINARY...]
#   test  run each test binary against /mnt/kv
#   run   an interactive shell with kvfs mounted
#   demo  a short session of puts, gets, lists and deletes from the shell
# OUT is a directory shared with the host: it holds test-args (extra
# arguments for the test binaries) and receives dmesg.log and status.
set -uo pipefail

action=$1 out=$2 module=$3
shift 3

step() { printf 'guest: %s\n' "$*"; }

# Active objects of a slab cache, from /proc/slabinfo.
slab_objects() {
    awk -v cache="$1" '$1 == cache { print $2 }' /proc/slabinfo
}

# SUnreclaim of /proc/meminfo, in KiB.
unreclaimable_kib() {
    awk '$1 == "SUnreclaim:" { print $2 }' /proc/meminfo
}

# Drops clean caches, and again after freed inodes and dentries, which the
# kernel frees after an RCU grace period, have gone.
settle_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
    sleep 2
    echo 3 >/proc/sys/vm/drop_caches
}

# Loads, mounts, fills, unmounts and unloads kvfs $1 times, and checks that
# the dentry cache and unreclaimable slab memory come back to where they
# were and that kvfs's own inode cache is gone: nothing kvfs allocated
# outlives the module. (kvfs's inodes come from that cache, which rmmod
# destroys; a cache that still holds objects is reported and kept.)
cycle_module() {
    local cycles=$1 dir=/tmp/kvfs-cycle i k
    mkdir -p "$dir"
    settle_caches
    local dentries kib
    SECONDS=0
    dentries=$(slab_objects dentry) kib=$(unreclaimable_kib)
    # Values are written and read with shell builtins: under emulation a
    # process start costs more than the rest of a cycle.
    local value value_back
    printf -v value '%4096s' "cycle"
    for ((i = 0; i < cycles; i++)); do
        insmod "$module" || return 1
        mount -t kvfs -o max_keys=100,max_bytes=1m kvfs "$dir" || return 1
        mkdir "$dir/ns"
        for ((k = 0; k < 20; k++)); do
            printf '%s' "$value" >"$dir/ns/$k"
        done
        for ((k = 0; k < 20; k++)); do
            read -r -N 4096 value_back <"$dir/ns/$k"
            [[ $value_back == "$value" ]] || return 1
        done
        umount "$dir" || return 1
        rmmod kvfs || return 1
    done
    settle_caches
    local dentries2 kib2 leftover
    dentries2=$(slab_objects dentry) kib2=$(unreclaimable_kib)
    leftover=$(slab_objects kvfs_inode)
    step "module cycles: $cycles loads with 21 entries and 80 KiB each in $SECONDS s;" \
        "dentry $dentries -> $dentries2, SUnreclaim $kib -> $kib2 KiB," \
        "kvfs_inode cache ${leftover:-gone}"
    if [[ -n $leftover ]]; then
        step "the kvfs_inode cache outlived the module: it still held inodes"
        return 1
    fi
    # Each cycle creates 21 inodes and dentries and 80 KiB of values. The
    # guest's own work (process starts, path lookups) moves the dentry count
    # by a few dozen; a leak of one object per cycle, or of one cycle's
    # values, would pass these bounds. Where kmemleak runs, the
    # kernel also has KASAN, whose quarantine of freed objects counts as
    # unreclaimable slab; there kmemleak's scan in finish judges memory.
    local grown=$((kib2 - kib))
    if [[ -e $kmemleak ]]; then
        grown=0
    fi
    if ((dentries2 - dentries > 64 || grown > 1024)); then
        step "module cycles left slab objects behind"
        return 1
    fi
}

# An open file of a lazily unmounted kvfs keeps its super block alive, and
# the super block holds the module (kvfs's file operations take no module
# reference of their own), so rmmod must refuse until the file is closed.
open_file_holds_module() {
    local dir=/tmp/kvfs-lazy fd back
    mkdir -p "$dir"
    insmod "$module" || return 1
    mount -t kvfs kvfs "$dir" || return 1
    printf 'held' >"$dir/k"
    exec {fd}<"$dir/k"
    umount -l "$dir" || return 1
    if rmmod kvfs 2>/dev/null; then
        step "rmmod succeeded while a file of a lazily unmounted kvfs was open"
        return 1
    fi
    read -r -N 4 back <&"$fd"
    exec {fd}<&-
    if [[ $back != held ]]; then
        step "a file of a lazily unmounted kvfs read back '$back'"
        return 1
    fi
    rmmod kvfs || return 1
    step "an open file of a lazily unmounted kvfs held the module until closed"
}

kmemleak=/sys/kernel/debug/kmemleak

finish() {
    local status=$1
    if mountpoint -q /mnt/kv; then
        umount /mnt/kv || status=1
    fi
    if grep -q '^kvfs ' /proc/modules; then
        rmmod kvfs || status=1
    fi
    if [[ -e $kmemleak ]]; then
        # Two scans, as kmemleak reports an object only once it has seen it
        # unreferenced twice.
        echo scan >"$kmemleak"
        sleep 1
        echo scan >"$kmemleak"
        cat "$kmemleak" >"$out/kmemleak.log"
        if [[ -s "$out/kmemleak.log" ]]; then
            step "kmemleak found unreferenced objects; see kmemleak.log"
            status=1
        fi
    fi
    dmesg >"$out/dmesg.log"
    echo "$status" >"$out/status"
    exit "$status"
}

# mount(8) takes a source that names an existing path for that path, so
# work from / where no "kvfs" entry exists.
cd /
# The host's /mnt is read-only here; a tmpfs gives the mount point a home.
mount -t tmpfs -o mode=755 tmpfs /mnt
mkdir /mnt/kv
if [[ -d /sys/kernel/debug ]] && ! mountpoint -q /sys/kernel/debug; then
    mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi
if [[ -e $kmemleak ]]; then
    # Forget what boot left; only what happens from here on counts.
    echo clear >"$kmemleak"
fi
insmod "$module" || finish 1
mount -t kvfs kvfs /mnt/kv || finish 1
step "kvfs mounted at /mnt/kv"

case $action in
test)
    status=0
    read -r -a args <"$out/test-args" || true
    # shellcheck disable=SC1091
    . "$out/test-env"
    if [[ -e /sys/kernel/debug/failslab ]]; then
        # Tests that need fault injection are ignored on other kernels.
        args+=(--include-ignored)
    fi
    for binary in "$@"; do
        step "running $(basename "$binary")"
        # One test at a time: a test that spawns a process copies every
        # descriptor of the test binary into it until it executes, which
        # holds back the commits of whatever another test is writing.
        # --show-output prints what passing tests print: the figures of the
        # stress, model and fault tests.
        (cd /tmp && KVFS_MOUNT=/mnt/kv "$binary" --test-threads=1 --show-output "${args[@]}") ||
            status=1
    done
    umount /mnt/kv && rmmod kvfs || status=1
    open_file_holds_module || status=1
    # KVFS_MODULE_CYCLES=0 skips the load/unload cycles.
    if ((${KVFS_MODULE_CYCLES:-100} > 0)); then
        cycle_module "${KVFS_MODULE_CYCLES:-100}" || status=1
    fi
    finish "$status"
    ;;
run)
    cd /mnt/kv
    echo "kvfs is mounted at /mnt/kv; exit the shell to stop the VM."
    bash -i
    cd /
    finish 0
    ;;
demo)
    cd /mnt/kv || finish 1
    # Shows each command as typed at a prompt, then its output.
    show() {
        printf '$ %s\n' "$1"
        bash -c "$1" || finish 1
    }
    show 'echo hello > greeting'
    show 'cat greeting'
    show 'mkdir users'
    show "printf '%s\\n' '{\"name\":\"ada\"}' > users/1"
    show "printf '%s\\n' '{\"name\":\"brian\"}' > users/2"
    show 'ls -l . users'
    show 'cat users/1'
    show 'echo "more" >> greeting && cat greeting'
    show 'mv users/2 users/3 && ls users'
    show 'rm greeting users/1 users/3 && rmdir users && ls -la'
    show 'df -h /mnt/kv'
    show 'grep kvfs /proc/mounts'
    cd /
    finish 0
    ;;
*)
    echo "guest: unknown action $action" >&2
    finish 2
    ;;
esac
