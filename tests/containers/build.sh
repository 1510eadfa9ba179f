#!/usr/bin/env bash
# Builds the statline images from deploy/Dockerfile with Podman:
#   tests/containers/build.sh [TARGET...]   (default: the phase images + fixtures)
# Tags them localhost/<target>:${STATLINE_IMAGE_TAG:-dev}. Stages are cached,
# so the compile runs once for all targets. Needs the base image (base.sh).
# Builds use the host network (apt inside the build): the bridge has no route
# to this machine's resolver.
# STATLINE_IMAGE_SOURCE=tree (default) builds the working tree as it is;
# =head builds the last commit (git archive HEAD) with the working tree's deploy/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ct_storage_init
tag=${STATLINE_IMAGE_TAG:-dev}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(statline-fixtures statline-raw statline-analytics statline-precompute
        statline-publishing statline-scraper statline-prediction)
# Snapshot the tree once: others may edit files while the targets build, and a
# changed context would recompile for every target. COPY caches on content, so
# an unchanged tree reuses the compile layer across runs too.
ctx=$CT_CACHE/context
rm -rf "$ctx"
mkdir -p "$ctx"
if [ "${STATLINE_IMAGE_SOURCE:-tree}" = head ]; then
        # The last commit plus the working tree's deploy/: images of committed
        # code while others' uncommitted edits are half done.
        git -C "$CT_ROOT" archive --format=tar HEAD | tar -C "$ctx" -xf -
        rm -rf "$ctx/deploy"
        cp -r "$CT_ROOT/deploy" "$ctx/deploy"
else
        tar -C "$CT_ROOT" --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./run \
                --exclude=./.kafka --exclude='*.o' --exclude='*.swp' -cf - . | tar -C "$ctx" -xf -
fi
for t in "${targets[@]}"; do
        ct_log "podman build --target $t"
        podman build --network host --layers --pull=never --format docker -f "$ctx/deploy/Dockerfile" --target "$t" \
                --build-arg "BASE_IMAGE=$CT_BASE_IMAGE" -t "localhost/$t:$tag" "$ctx" >"$CT_CACHE/build-$t.log" 2>&1 || {
                tail -n 40 "$CT_CACHE/build-$t.log" >&2
                ct_die "podman build --target $t failed (log: $CT_CACHE/build-$t.log)"
        }
done
for t in "${targets[@]}"; do
        printf '%-22s %s MB\n' "$t" "$(podman image inspect -f '{{.Size}}' "localhost/$t:$tag" |
                awk '{ printf "%.1f", $1 / 1e6 }')"
done
