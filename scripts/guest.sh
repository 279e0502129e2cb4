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

finish() {
    local status=$1
    if mountpoint -q /mnt/kv; then
        umount /mnt/kv || status=1
    fi
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
# The host's /mnt is read-only here; a tmpfs gives the mount point a home.
mount -t tmpfs -o mode=755 tmpfs /mnt
mkdir /mnt/kv
insmod "$module" || finish 1
mount -t kvfs kvfs /mnt/kv || finish 1
step "kvfs mounted at /mnt/kv"

case $action in
test)
    status=0
    read -r -a args <"$out/test-args" || true
    for binary in "$@"; do
        step "running $(basename "$binary")"
        (cd /tmp && KVFS_MOUNT=/mnt/kv "$binary" --test-threads=2 "${args[@]}") || status=1
    done
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
