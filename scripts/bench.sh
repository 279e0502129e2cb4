#!/usr/bin/env bash
# Builds kvfs-bench, boots the test VM once and runs the benchmarks in it
# (scripts/bench-guest.sh), then copies the report and its plots to docs/.
#
# Usage: bench.sh KERNEL_TREE MODULE [KVFS-BENCH ARGUMENTS...]
#
# The guest has 4 vCPUs and 4 GiB (VM_CPUS, VM_MEMORY) and runs under TCG
# unless VM_KVM=1, as in scripts/vm.sh. It writes to VM_OUT (default
# target/vm-bench), apart from the test VM's target/vm so that both can run
# at once. redis-server and perf (Debian's linux-perf, which profiles gets in
# the guest) are installed with apt-get when they are missing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

tree=$1 module=$2
shift 2

log() { printf 'bench: %s\n' "$*" >&2; }

# Redis and perf are only needed here, so setup.sh installs them only for the
# benchmark.
"$here/setup.sh" redis-server linux-perf

cargo build --release -q -p kvfs-bench --manifest-path "$root/Cargo.toml"
bench="$root/target/release/kvfs-bench"

# virtme-ng runs its helpers (virtme-run) from PATH.
export PATH="$VNG_VENV/bin:$PATH"

out="${VM_OUT:-$root/target/vm-bench}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/bench" "$out/dmesg.log" "$out/status"
# The guest sees its own /proc; it reports the host from this file.
{
    printf 'CPU: %s, %s CPUs\n' \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)"
    printf 'memory: %s GiB\n' "$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
    printf 'kernel: Linux %s\n' "$(uname -r)"
    printf 'QEMU: %s\n' "$(qemu-system-x86_64 --version | head -n1)"
} >"$out/host-info"

vng_args=(
    --run "$tree/arch/x86/boot/bzImage"
    --cpus "${VM_CPUS:-4}"
    --memory "${VM_MEMORY:-4G}"
    --disable-microvm
    --rwdir "$out"
    --append slab_nomerge
)
if [[ "${VM_KVM:-0}" != 1 ]]; then
    vng_args+=(--disable-kvm)
fi

guest=("$here/bench-guest.sh" "$out" "$module" "$bench" "$@")
SECONDS=0
rc=0
"$VNG_VENV/bin/vng" "${vng_args[@]}" --exec "${guest[*]@Q}" </dev/null || rc=$?
log "the VM ran for $SECONDS s"

if [[ ! -f "$out/status" ]]; then
    log "the guest did not finish (no $out/status); exit code $rc"
    exit 1
fi
if grep -nE 'BUG[: ]|WARNING:|Oops|INFO: (possible|task)|lockdep|KASAN|UBSAN|general protection|soft lockup|hard LOCKUP|detected stalls' "$out/dmesg.log" >&2; then
    log "the guest kernel log has the reports above; full log: $out/dmesg.log"
    exit 1
fi
status=$(cat "$out/status")
if [[ $status != 0 || ! -f "$out/bench/benchmarks.md" ]]; then
    log "the benchmark failed in the guest (status $status); kernel log: $out/dmesg.log"
    exit 1
fi
cp "$out/bench/benchmarks.md" "$out/bench/bench-value-size.svg" \
    "$out/bench/bench-threads.svg" "$root/docs/"
log "wrote docs/benchmarks.md, docs/bench-value-size.svg and docs/bench-threads.svg"
