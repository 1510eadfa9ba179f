#!/usr/bin/env bash
# Builds the Debian base image the Dockerfile starts from, without a registry:
# debootstrap --variant=minbase bookworm, trimmed like debian:bookworm-slim
# (no docs, man pages, locales, apt caches, iconv modules), imported into Podman as
# $STATLINE_BASE_IMAGE (default localhost/debian:bookworm-slim).
# Idempotent: does nothing when the image exists. --force rebuilds it.
# Needs root, debootstrap and podman (scripts/deps.sh --containers).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ct_storage_init

if [ "${1:-}" != "--force" ] && podman image exists "$CT_BASE_IMAGE"; then
        ct_log "base image $CT_BASE_IMAGE present"
        exit 0
fi
command -v debootstrap >/dev/null || ct_die "debootstrap missing: scripts/deps.sh --containers"
suite=bookworm
mirror=${STATLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$CT_CACHE/rootfs
if [ ! -f "$rootfs/.statline-complete" ]; then
        rm -rf "$rootfs" "$rootfs.tmp"
        ct_log "debootstrap $suite into $rootfs (about a minute)"
        debootstrap --variant=minbase "$suite" "$rootfs.tmp" "$mirror" >"$CT_CACHE/debootstrap.log" 2>&1 ||
                ct_die "debootstrap failed, see $CT_CACHE/debootstrap.log"
        mv "$rootfs.tmp" "$rootfs"
        touch "$rootfs/.statline-complete"
fi
# Trim into a copy so the cached rootfs stays pristine.
work=$(mktemp -d "$CT_CACHE/base.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -a "$rootfs/." "$work/"
rm -f "$work/.statline-complete"
cat >"$work/etc/apt/sources.list" <<EOS
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOS
# What debian:*-slim excludes, so later apt-get installs stay small too.
cat >"$work/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOS
cat >"$work/etc/apt/apt.conf.d/docker-clean" <<'EOS'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOS
echo 'Acquire::Languages "none";' >"$work/etc/apt/apt.conf.d/docker-no-languages"
find "$work/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$work"/usr/share/man/* "$work"/usr/share/info/* "$work"/usr/share/locale/* \
        "$work"/var/cache/apt/archives/*.deb "$work"/var/cache/apt/*.bin "$work"/var/lib/apt/lists/* \
        "$work"/var/log/*.log "$work"/var/log/apt/* "$work"/tmp/*
# iconv charset modules (8 MB): nothing statline links converts charsets beyond
# glibc's built-in UTF-8/ASCII/Latin-1; removing them keeps images under 100 MB.
find "$work/usr/lib/x86_64-linux-gnu/gconv" -name '*.so' -delete 2>/dev/null || true
ct_log "importing $CT_BASE_IMAGE"
tar -C "$work" --numeric-owner -c . | podman import -q - "$CT_BASE_IMAGE" >/dev/null
ct_log "base image $CT_BASE_IMAGE: $(podman image inspect -f '{{.Size}}' "$CT_BASE_IMAGE") bytes"
