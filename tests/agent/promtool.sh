#!/usr/bin/env bash
# Prints the path of Prometheus's promtool, taken from Debian's `prometheus` package: the package is
# downloaded (apt-get download, not installed: no server, no service) and promtool extracted into
# ${LIGHTOS_CACHE:-~/.cache/lightos}/tools/promtool-<package version>/, once. A promtool on PATH
# is used as it is. Progress and errors on stderr; exits non-zero if it cannot.
set -euo pipefail
if command -v promtool >/dev/null; then command -v promtool; exit 0; fi
cache=${LIGHTOS_CACHE:-$HOME/.cache/lightos}/tools
version=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "promtool.sh: apt knows no 'prometheus' package (apt-get update?)" >&2; exit 1; }
dir=$cache/promtool-${version//[^A-Za-z0-9.+-]/_}
if [ ! -x "$dir/promtool" ]; then
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    printf '\033[1;34m[lightos]\033[0m fetching promtool from Debian'"'"'s prometheus %s\n' "$version" >&2
    (cd "$tmp" && apt-get download -q "prometheus=$version" >/dev/null 2>"$tmp/err") \
        || { cat "$tmp/err" >&2; echo "promtool.sh: apt-get download prometheus failed" >&2; exit 1; }
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
    mkdir -p "$dir"
    cp "$tmp/x/usr/bin/promtool" "$dir/promtool"
fi
echo "$dir/promtool"
