#!/usr/bin/env bash
# Runs inside the benchmark VM as root: mounts kvfs, tmpfs and ramfs side by
# side under /mnt, starts redis-server on a Unix socket, runs kvfs-bench
# against all four, then stops Redis, unmounts, unloads and saves the kernel
# log.
#
# Usage: bench-guest.sh OUT MODULE BENCH [KVFS-BENCH ARGUMENTS...]
#   OUT is a directory shared with the host: it may hold host-info (the
#   host's machine description) and receives bench/ (the report and plots),
#   redis.log, dmesg.log and status.
set -uo pipefail

out=$1 module=$2 bench=$3
shift 3

step() { printf 'bench-guest: %s\n' "$*"; }

run=/tmp/kvfs-bench
socket=$run/redis.sock
redis_pid=

finish() {
    local status=$1
    if [[ -n $redis_pid ]]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    cp "$run/redis.log" "$out/redis.log" 2>/dev/null
    for store in kvfs tmpfs ramfs; do
        if mountpoint -q "/mnt/$store"; then
            umount "/mnt/$store" || status=1
        fi
    done
    if grep -q '^kvfs ' /proc/modules; then
        rmmod kvfs || status=1
    fi
    dmesg >"$out/dmesg.log"
    echo "$status" >"$out/status"
    exit "$status"
}

# mount(8) takes a source that names an existing path for that path, so
# work from / where no "kvfs" entry exists.
cd /
# The host's /mnt is read-only here; a tmpfs gives the mount points a home.
mount -t tmpfs -o mode=755 tmpfs /mnt || finish 1
mkdir -p /mnt/kvfs /mnt/tmpfs /mnt/ramfs "$run"

insmod "$module" || finish 1
# Room for the million-key store of the store-size workload.
mount -t kvfs -o max_keys=2m,max_bytes=1g kvfs /mnt/kvfs || finish 1
# tmpfs gets the same room in keys; its 16-B keys each take a 4-KiB page.
mount -t tmpfs -o size=2g,nr_inodes=2m tmpfs /mnt/tmpfs || finish 1
mount -t ramfs ramfs /mnt/ramfs || finish 1
step "kvfs, tmpfs and ramfs mounted under /mnt"

redis-server --save "" --appendonly no --port 0 \
    --unixsocket "$socket" --unixsocketperm 700 \
    --dir "$run" --logfile "$run/redis.log" --daemonize no &
redis_pid=$!
for ((i = 0; i < 300; i++)); do
    [[ -S $socket ]] && break
    sleep 0.1
done
if [[ ! -S $socket ]]; then
    step "redis-server did not create $socket"
    finish 1
fi
step "redis-server listening on $socket"

host_info=()
if [[ -f $out/host-info ]]; then
    host_info=(--host-info "$out/host-info")
fi
perf_args=()
if perf_path=$(command -v perf); then
    perf_args=(--perf "$perf_path")
else
    step "no perf in the guest: the report will have no profiles"
fi
status=0
"$bench" --store kvfs=/mnt/kvfs --store tmpfs=/mnt/tmpfs --store ramfs=/mnt/ramfs \
    --redis "$socket" --out "$out/bench" "${host_info[@]}" "${perf_args[@]}" "$@" || status=1
finish "$status"
