#!/usr/bin/env bash
# Puts the Linux $KVER source into the cache, checksum-verified. Looks, in order, in: the cache; the file
# named by $LIGHTOS_KERNEL_DEB; ../shared/kernel/ beside the repo; Debian's archive (suite sid, through a
# private apt configuration so nothing from sid is installed into the system).
source "$(dirname "$0")/lib.sh"

[ -f "$KSRC/.lightos-unpacked" ] && exit 0

deb=""
for candidate in "${LIGHTOS_KERNEL_DEB:-}" "$LIGHTOS_ROOT/../shared/kernel/$KDEB" "$LIGHTOS_CACHE/src/$KDEB"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then deb=$candidate; break; fi
done

if [ -z "$deb" ]; then
    say "downloading $KDEB from Debian's archive (sid)"
    apt_dir=$LIGHTOS_CACHE/apt-sid
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    # The system's own Debian mirror, read from its apt sources (no host name is written in this repo).
    mirror=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
             | grep -v security | head -n1 || true)
    [ -n "$mirror" ] || mirror=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
    [ -n "$mirror" ] || die "cannot find a Debian mirror in /etc/apt; set LIGHTOS_KERNEL_DEB to a copy of $KDEB"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Get::List-Cleanup=0")
    apt-get "${apt_opts[@]}" update -qq || die "apt-get update of the private sid configuration failed"
    (cd "$LIGHTOS_CACHE/src" 2>/dev/null || { mkdir -p "$LIGHTOS_CACHE/src" && cd "$LIGHTOS_CACHE/src"; }
     apt-get "${apt_opts[@]}" download "linux-source-7.2=${KVER}-1") \
        || die "linux-source-7.2 $KVER-1 is no longer in sid; set LIGHTOS_KERNEL_DEB to a copy of $KDEB"
    deb=$LIGHTOS_CACHE/src/$KDEB
fi

say "verifying $deb"
echo "$KDEB_SHA256  $deb" | sha256sum -c --quiet - || die "checksum mismatch for $deb (expected $KDEB_SHA256)"

say "unpacking the Linux $KVER source into $KSRC (about 1 min)"
tmp=$(mktemp -d "$LIGHTOS_CACHE/unpack.XXXXXX" 2>/dev/null || { mkdir -p "$LIGHTOS_CACHE"; mktemp -d "$LIGHTOS_CACHE/unpack.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
dpkg -x "$deb" "$tmp/deb"
tarball=$(ls "$tmp"/deb/usr/src/linux-source-7.2.tar.* | head -n1)
[ -f "$tarball" ] || die "no source tarball inside $deb"
mkdir -p "$tmp/src"
tar -xf "$tarball" -C "$tmp/src"
top=$(ls "$tmp/src" | head -n1)
rm -rf "$KSRC"
mkdir -p "$(dirname "$KSRC")"
mv "$tmp/src/$top" "$KSRC"
touch "$KSRC/.lightos-unpacked"
