#!/bin/sh
# berthd-image.sh - berthd's own image, to run it in a cluster
# (deploy/kubernetes/berthd.yaml): a root file system holding berthd, the
# berth CLI and berth-serve (without its torch module; berthd looks for it
# beside itself), exactly the shared libraries ldd lists and the dynamic
# loader, and /bin/sh from Debian's busybox-static (scripts/deps.sh k8s),
# imported into the container engine as localhost/berthd:VERSION (the
# version berthd reports). It runs as user berth (uid 10001), its store at
# /var/lib/berth.
#   scripts/berthd-image.sh BERTHD BERTH BERTH_SERVE TARBALL [PODMAN]
# Without PODMAN only the tarball is written. Prints the image reference.
set -eu
berthd=$1 cli=$2 serve=$3 tarball=$4 podman=${5:-}
busybox=/bin/busybox
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "berthd-image.sh: no static $busybox for the image's /bin/sh (scripts/deps.sh k8s installs busybox-static)" >&2
    exit 1
fi
version=$("$berthd" --version | awk '{print $2}')
ref=localhost/berthd:$version
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc" "$root/tmp" "$root/var/lib/berth" \
    "$root/var/lib/berth-instances"
chmod 1777 "$root/tmp"
chmod 700 "$root/var/lib/berth" "$root/var/lib/berth-instances"
cp "$berthd" "$root/usr/bin/berthd"
cp "$cli" "$root/usr/bin/berth"
cp "$serve" "$root/usr/bin/berth-serve"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# "name => /path (addr)" lines, and the loader's "/path (addr)".
for lib in $(for b in "$berthd" "$cli" "$serve"; do ldd "$b"; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# berthd runs instances as its own user when it is not root (--instance-user).
printf 'root:x:0:0:root:/root:/bin/sh\nberth:x:10001:10001:berth:/var/lib/berth:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nberth:x:10001:\n' >"$root/etc/group"
mkdir -p "$(dirname "$tarball")"
# The store's directories belong to berth; the rest to root.
tar -C "$root" --numeric-owner --owner=0 --group=0 --exclude=./var/lib/berth \
    --exclude=./var/lib/berth-instances -cf "$tarball" .
tar -C "$root" --numeric-owner --owner=10001 --group=10001 -rf "$tarball" \
    ./var/lib/berth ./var/lib/berth-instances
if [ -n "$podman" ]; then
    $podman import --quiet \
        --change 'USER 10001:10001' \
        --change 'WORKDIR /var/lib/berth' \
        --change 'ENTRYPOINT ["/usr/bin/berthd"]' \
        --change 'CMD ["--data-dir", "/var/lib/berth", "--api-listen", "0.0.0.0:7700", "--gateway-listen", "0.0.0.0:8501"]' \
        --change 'EXPOSE 7700' --change 'EXPOSE 8501' \
        "$tarball" "$ref" >/dev/null
fi
echo "$ref"
