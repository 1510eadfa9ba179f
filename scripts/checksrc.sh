#!/usr/bin/env bash
# Fails on banned calls (STYLE B12, curl's checksrc in spirit). Prints file:line for each hit.
set -uo pipefail
cd "$(dirname "$0")/.."

banned='sprintf|vsprintf|strcpy|strcat|strncpy|gets|strtok|system|atoi|atol|atoll|signal|localtime|gmtime|rand|srand|qsort|bsearch'
files=$(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null || find libcommon services tools tests bench -name '*.[ch]')
# A call is the name followed by "(", not preceded by an identifier character
# or "->"/"." (so snprintf, strtok_r, gmtime_r, sigaction stay allowed).
# qsort/bsearch: use sl_qsort/sl_bsearch (sl/util.h; NULL base with count 0 is UB), which
# util.c itself wraps.
hits=$(grep -nE "(^|[^A-Za-z0-9_>.])($banned)[[:space:]]*\(" $files |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' |
        grep -vE '^libcommon/src/util\.c:[0-9]+:.*(qsort|bsearch)\(' || true)
if [ -n "$hits" ]; then
        echo "checksrc: banned calls (see ../shared/STYLE.md B12):" >&2
        echo "$hits" >&2
        exit 1
fi
echo "checksrc: ok ($(echo "$files" | wc -w) files)"
