#!/usr/bin/env bash
# Prints the paths of Debian's Chromium and ChromeDriver ("CHROMIUM CHROMEDRIVER" on one line),
# installing the packages chromium and chromium-driver with apt-get the first time (as root; an
# `apt-get update` first if the package lists do not know them). Progress and errors on stderr;
# exits non-zero if it cannot.
set -euo pipefail
say() { printf '\033[1;34m[lightos]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[lightos] error:\033[0m %s\n' "$*" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    [ "$(id -u)" = 0 ] || die "chromium.sh: Debian's chromium and chromium-driver are not installed (apt-get install them as root)"
    say "installing Debian's chromium and chromium-driver (apt-get)"
    log=$(mktemp); trap 'rm -f "$log"' EXIT
    install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >"$log" 2>&1; }
    if ! install; then
        apt-get update -q >"$log" 2>&1 || { cat "$log" >&2; die "chromium.sh: apt-get update failed"; }
        install || { cat "$log" >&2; die "chromium.sh: apt-get install chromium chromium-driver failed"; }
    fi
fi
echo /usr/bin/chromium /usr/bin/chromedriver
