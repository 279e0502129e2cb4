#!/usr/bin/env bash
# Installs everything kvfs needs to build a kernel, build the module and boot
# the test VM, on Debian 12 with rustup. Idempotent: each step checks first and
# does nothing when its piece is already there, so `make` can call it every time.
#
# Usage: setup.sh [EXTRA_DEBIAN_PACKAGE...]  (make bench adds redis-server)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

log() { printf 'setup: %s\n' "$*" >&2; }

debian_packages=(
    linux-source-6.12 clang lld llvm libclang-dev flex bison bc libelf-dev
    libssl-dev cpio kmod qemu-system-x86 udev python3-venv make gcc git xz-utils
    "$@"
)

missing=()
for pkg in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        sudo=sudo
    else
        sudo=
    fi
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v rustup >/dev/null; then
    log "rustup is required (https://rustup.rs) and was not found"
    exit 1
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    log "adding rust-src"
    rustup component add rust-src
fi

bindgen_bin="${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"
if ! "$bindgen_bin" --version 2>/dev/null | grep -qF "$BINDGEN_VERSION"; then
    log "installing bindgen-cli $BINDGEN_VERSION"
    cargo install bindgen-cli --version "$BINDGEN_VERSION" --locked
fi

if ! "$VNG_VENV/bin/vng" --version 2>/dev/null | grep -qF "$VNG_VERSION"; then
    log "installing virtme-ng $VNG_VERSION into $VNG_VENV"
    rm -rf "$VNG_VENV"
    python3 -m venv "$VNG_VENV"
    "$VNG_VENV/bin/pip" install -q "virtme-ng==$VNG_VERSION"
fi
