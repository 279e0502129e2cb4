#!/usr/bin/env bash
# Builds the kvfs test kernel from Debian's linux-source-6.12 and caches it.
#
# Usage: kernel.sh PROFILE...   (prints the kernel tree's path on stdout)
#
# The tree is built with LLVM=1 from allnoconfig plus scripts/kernel.config and
# one fragment per extra profile (scripts/kernel-PROFILE.config). It lives
# outside the working tree, in a directory whose name is a hash of the source
# tarball, the fragments and the toolchain versions, so an unchanged setup
# reuses it and any change builds a fresh one.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
. "$here/versions.sh"

log() { printf 'kernel: %s\n' "$*" >&2; }

tarball=/usr/src/linux-source-6.12.tar.xz
fragments=("$here/kernel.config")
for profile in "$@"; do
    fragments+=("$here/kernel-$profile.config")
done

# Everything that changes the built kernel goes into the key.
key=$(
    {
        stat -c '%s %Y' "$tarball"
        cat "${fragments[@]}"
        rustc --version
        clang --version | head -1
        "${CARGO_HOME:-$HOME/.cargo}/bin/bindgen" --version
        cat "$0"
    } | sha256sum | cut -c1-16
)
tree="$KVFS_CACHE/kernel-$key"
src="$tree/linux-source-6.12"

if [[ -f "$tree/done" ]]; then
    echo "$src"
    exit 0
fi

rm -rf "$tree"
mkdir -p "$tree"
log "unpacking $tarball into $tree"
tar -C "$tree" -xf "$tarball"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
kmake=(make -C "$src" ARCH=x86_64 LLVM=1 -j"$(nproc)")

cat "${fragments[@]}" >"$tree/fragment.config"
"${kmake[@]}" -s KCONFIG_ALLCONFIG="$tree/fragment.config" allnoconfig

# Kconfig silently drops a symbol whose dependencies are not met; refuse to
# build a kernel that lacks something the fragments ask for.
bad=0
while IFS= read -r line; do
    case "$line" in
    CONFIG_*=*)
        if ! grep -qxF "$line" "$src/.config"; then
            log "fragment asks for '$line' but the config has '$(grep "^${line%%=*}=" "$src/.config" || echo unset)'"
            bad=1
        fi
        ;;
    esac
done <"$tree/fragment.config"
if ((bad)); then
    exit 1
fi

log "building bzImage, the Rust support and Module.symvers (several minutes)"
start=$(date +%s)
"${kmake[@]}" -s bzImage modules >"$tree/build.log" 2>&1 || {
    tail -50 "$tree/build.log" >&2
    exit 1
}
log "built in $(($(date +%s) - start)) s"
touch "$tree/done"
echo "$src"
