#!/usr/bin/env bash
# Installs every Debian package statline's build, tests, benches and demo need.
# Idempotent and quick when everything is present (one dpkg-query call).
#   scripts/deps.sh          install what is missing (needs root)
#   scripts/deps.sh --check  only report what is missing; exit 1 if anything is
#   scripts/deps.sh --containers [--check]  also the container e2e's tools
#                            (make test-containers; not needed by make test)
set -euo pipefail

# Build: compiler toolchain and the libraries libcommon links.
build_pkgs="gcc meson ninja-build pkg-config libhiredis-dev librdkafka-dev libcurl4-openssl-dev
libpq-dev libcjson-dev libmicrohttpd-dev libxgboost-dev"
# Tests and benches: real servers, Kafka tooling, checkers.
test_pkgs="redis-server redis-tools postgresql postgresql-client kcat valgrind clang
libclang-rt-14-dev curl procps iproute2 clang-format-14 python3 util-linux jq
chromium"

missing=()
want="$build_pkgs $test_pkgs"
# Container e2e only (opt-in): Podman, compose, debootstrap, promtool (prometheus).
if [ "${1:-}" = "--containers" ]; then
        want="$want podman runc podman-compose netavark aardvark-dns debootstrap docker-compose prometheus uidmap"
        # npm fetches the Kubernetes schema packages (a non-Debian Node with npm is fine too);
        # kubectl >= 1.21 (kustomize v4+) must come from elsewhere: Debian 12 ships 1.20.
        command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
        shift
fi
# Kafka is assembled from Maven Central jars (tests/harness/kafka.sh): needs a JRE and
# Maven. One that did not come from Debian (a preinstalled toolchain) is fine too.
command -v java >/dev/null 2>&1 || want="$want openjdk-17-jre-headless"
command -v mvn >/dev/null 2>&1 || want="$want maven"

# One dpkg-query for all packages: fast when everything is installed.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $want 2>/dev/null | awk '$2 == "installed" {print $1}')
for p in $want; do
        grep -qx "$p" <<<"$installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi
if [ "${1:-}" = "--check" ]; then
        echo "missing packages: ${missing[*]}" >&2
        exit 1
fi
if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: these Debian packages are missing: ${missing[*]}" >&2
        echo "deps.sh: run as root (sudo scripts/deps.sh) or install them with apt-get" >&2
        exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
        apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian redis-server/postgresql packages start system services on the
# default ports; statline never uses those, so leave them as they are.
echo "deps.sh: done" >&2
