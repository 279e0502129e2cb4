# Pinned tool versions and the cache layout, shared by the scripts and the Makefile.
BINDGEN_VERSION=0.73.2
VNG_VERSION=1.42
KVFS_CACHE="${KVFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvfs}"
VNG_VENV="$KVFS_CACHE/vng-$VNG_VERSION"
