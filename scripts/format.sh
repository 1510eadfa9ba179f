#!/usr/bin/env bash
# Formats every C file with clang-format 14 (.clang-format). --check: only report.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$cf" ] || { echo "format.sh: clang-format-14 not installed (scripts/deps.sh)" >&2; exit 1; }
case "${1:-}" in
"" | --check) ;;
*)
        echo "usage: scripts/format.sh [--check]" >&2
        exit 2
        ;;
esac
files=$(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
if [ "${1:-}" = "--check" ]; then
        bad=0
        for f in $files; do
                if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
                        echo "format.sh: $f is not formatted (run scripts/format.sh)" >&2
                        bad=1
                fi
        done
        exit $bad
fi
"$cf" --style=file -i $files
