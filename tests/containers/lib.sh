# Shared settings for the container scripts (sourced, not run).
# Podman runs with the project's containers.conf and its own storage under
# $STATLINE_CONTAINERS_CACHE so it never touches /etc or another user's images.
: "${STATLINE_CONTAINERS_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/statline/containers}"
CT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CT_CACHE=$STATLINE_CONTAINERS_CACHE
CT_BASE_IMAGE=${STATLINE_BASE_IMAGE:-localhost/debian:bookworm-slim}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$CT_ROOT/deploy/containers.conf}
export CONTAINERS_STORAGE_CONF=$CT_CACHE/storage.conf

ct_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
ct_die() {
        ct_log "FAIL: $*"
        exit 1
}

# Writes the storage.conf that keeps images and containers under CT_CACHE.
ct_storage_init() {
        mkdir -p "$CT_CACHE/storage" "$CT_CACHE/runroot"
        cat >"$CT_CACHE/storage.conf.tmp" <<EOS
[storage]
driver = "overlay"
graphroot = "$CT_CACHE/storage"
runroot = "$CT_CACHE/runroot"
EOS
        mv "$CT_CACHE/storage.conf.tmp" "$CT_CACHE/storage.conf"
}
