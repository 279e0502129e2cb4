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
# TEST_ARGS is passed to every test binary (a name filter, --nocapture).
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

vng_args=(
    --run "$tree/arch/x86/boot/bzImage"
    --cpus "${VM_CPUS:-2}"
    --memory "${VM_MEMORY:-2G}"
    --disable-microvm
    --rwdir "$out"
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

rc=0
"$VNG_VENV/bin/vng" "${vng_args[@]}" --exec "${guest[*]@Q}" </dev/null || rc=$?

if [[ ! -f "$out/status" ]]; then
    echo "vm: the guest did not finish (no $out/status); exit code $rc" >&2
    exit 1
fi
if [[ ! -f "$out/dmesg.log" ]]; then
    echo "vm: the guest wrote no kernel log" >&2
    exit 1
fi
# The guest kernel must not have complained, whatever the tests said.
if grep -nE 'BUG[: ]|WARNING:|Oops|INFO: possible|lockdep|KASAN|UBSAN|kmemleak|Call Trace|general protection' "$out/dmesg.log" >&2; then
    echo "vm: the guest kernel log has the reports above; full log: $out/dmesg.log" >&2
    exit 1
fi
status=$(cat "$out/status")
echo "vm: guest finished with status $status; kernel log: $out/dmesg.log" >&2
exit "$status"
