#!/usr/bin/env bash
# Boots the kvfs test VM with virtme-ng and runs one guest action in it.
#
# Usage: vm.sh ACTION KERNEL_TREE MODULE [TEST_BINARY...]
#   ACTION is test, run or demo (see scripts/guest.sh).
#
# The guest sees the host's root read-only, as virtme-ng sets it up, plus
# VM_OUT (default target/vm) read-write: the guest writes its kernel log and
# exit status there. QEMU runs under TCG with 2 vCPUs; set VM_KVM=1 where
# nested KVM works to use it instead, VM_CPUS and VM_MEMORY to size the guest.
# TEST_ARGS is passed to every test binary (a name filter, --nocapture), and
# every KVFS_* variable is set for them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
. "$here/versions.sh"

action=$1 tree=$2 module=$3
shift 3

# virtme-ng runs its helpers (virtme-run) from PATH.
export PATH="$VNG_VENV/bin:$PATH"

out="${VM_OUT:-$(cd "$here/.." && pwd)/target/vm}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/dmesg.log" "$out/status"
printf '%s' "${TEST_ARGS:-}" >"$out/test-args"
# The tests' own settings (KVFS_MODEL_SEED and the like) go to the guest.
{ compgen -e | grep '^KVFS_' || true; } | while read -r name; do
    printf 'export %s=%q\n' "$name" "${!name}"
done >"$out/test-env"

vng_args=(
    --run "$tree/arch/x86/boot/bzImage"
    --cpus "${VM_CPUS:-2}"
    --memory "${VM_MEMORY:-2G}"
    --disable-microvm
    --rwdir "$out"
    # Separate slab caches, so that the guest's leak check can count kvfs's
    # inodes and dentries in their own caches.
    --append slab_nomerge
)
if [[ "${VM_KVM:-0}" != 1 ]]; then
    vng_args+=(--disable-kvm)
fi

guest=("$here/guest.sh" "$action" "$out" "$module" "$@")
if [[ $action == run ]]; then
    # Interactive: virtme-ng gives the terminal to the guest's login shell
    # only, so the guest script stands in for that shell.
    printf '#!/bin/bash\nexec %s\n' "${guest[*]@Q}" >"$out/shell"
    chmod +x "$out/shell"
    exec "$VNG_VENV/bin/vng" "${vng_args[@]}" --shell "$out/shell"
fi

# Both of virtme-ng's output streams go through the pipe: QEMU reopens
# them by path with O_TRUNC, which would rewind a log file that make's
# output is redirected to and overwrite everything printed before.
rc=0
"$VNG_VENV/bin/vng" "${vng_args[@]}" --exec "${guest[*]@Q}" </dev/null 2>&1 |
    tee "$out/console.log" || rc=$?
# The figures that docs/reliability.md reports, in one place.
grep -E '^(stress|model|faults):|^guest: module cycles' "$out/console.log" >"$out/figures.txt" || true

if [[ ! -f "$out/status" ]]; then
    echo "vm: the guest did not finish (no $out/status); exit code $rc" >&2
    exit 1
fi
if [[ ! -f "$out/dmesg.log" ]]; then
    echo "vm: the guest wrote no kernel log" >&2
    exit 1
fi
# The guest kernel must not have complained, whatever the tests said.
# A memory cgroup running out prints a stack trace too, as a normal report,
# so traces alone do not count; the headers of real reports do.
# (KASAN and lockdep reports begin with BUG: or WARNING:.)
if grep -nE 'BUG[: ]|WARNING:|Oops|INFO: (possible|task)|DEBUG_LOCKS_WARN_ON|UBSAN:|general protection|soft lockup|hard LOCKUP|detected stalls|suspected memory leak' "$out/dmesg.log" >&2; then
    echo "vm: the guest kernel log has the reports above; full log: $out/dmesg.log" >&2
    exit 1
fi
# What kvfs logs must never reveal a kernel address.
if grep -E 'kvfs' "$out/dmesg.log" | grep -nE '(0x)?ffff[0-9a-f]{12}' >&2; then
    echo "vm: kvfs logged a kernel address (above)" >&2
    exit 1
fi
status=$(cat "$out/status")
echo "vm: guest finished with status $status; kernel log: $out/dmesg.log" >&2
exit "$status"
