#!/usr/bin/env bash
# Installs what building and booting LightOS needs and is missing: Debian packages (as root), the
# rust-src component, the musl target, and bindgen-cli (into the cache). Idempotent and quiet when
# everything is present.
source "$(dirname "$0")/lib.sh"

PACKAGES=(flex bison bc libelf-dev libssl-dev cpio busybox-static make xz-utils kmod qemu-system-x86
          clang-19 lld-19 llvm-19 libclang-19-dev musl-tools gcc
          rt-tests)  # rt-tests: cyclictest, the baseline of the thermal guard benchmark

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "missing Debian packages (${missing[*]}) and not root: install them"
        SUDO=sudo
    fi
    say "installing Debian packages: ${missing[*]} (1-3 min)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install failed for: ${missing[*]}"
fi

command -v rustup >/dev/null || die "rustup not found: LightOS needs a rustup-managed Rust toolchain"
if ! rustup component list --installed | grep -q '^rust-src'; then
    say "adding the rust-src component (needed to build the kernel's Rust core)"
    rustup component add rust-src >/dev/null
fi
if ! rustup target list --installed | grep -q '^x86_64-unknown-linux-musl$'; then
    say "adding the x86_64-unknown-linux-musl target (static binaries for the guest)"
    rustup target add x86_64-unknown-linux-musl >/dev/null
fi

if ! command -v bindgen >/dev/null; then
    say "installing bindgen-cli 0.73.2 into $LIGHTOS_CACHE/tools (about 2 min)"
    mkdir -p "$LIGHTOS_CACHE/tools"
    cargo install --quiet --locked --root "$LIGHTOS_CACHE/tools" bindgen-cli@0.73.2 \
        || die "cargo install bindgen-cli failed"
fi
