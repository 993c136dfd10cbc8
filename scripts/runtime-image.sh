#!/bin/sh
# runtime-image.sh - the built-in runtime image: a root file system holding
# berth-serve (without its torch module), exactly the shared libraries ldd
# lists and the dynamic loader, imported into the container engine as
# localhost/berth-serve:VERSION (the version the binary reports).
#   scripts/runtime-image.sh BERTH_SERVE TARBALL [PODMAN]
# Without PODMAN only the tarball is written. Prints the image reference.
set -eu
bin=$1 tarball=$2 podman=${3:-}
version=$("$bin" --version | awk '{print $2}')
ref=localhost/berth-serve:$version
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
mkdir -p "$root/usr/bin" "$root/data/model" "$root/srv/base" "$root/etc/berth" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/bin/berth-serve"
# "name => /path (addr)" lines, and the loader's "/path (addr)".
for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# The model version's files are mounted at /data/model; berth-serve reads
# numbered versions under a base path, so version 1 is that mount.
ln -s /data/model "$root/srv/base/1"
mkdir -p "$(dirname "$tarball")"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$tarball" .
if [ -n "$podman" ]; then
    $podman import --quiet \
        --change 'ENTRYPOINT ["/usr/bin/berth-serve"]' \
        --change 'CMD ["--rest_api_host=0.0.0.0", "--rest_api_port=8501", "--model_name=m", "--model_base_path=/srv/base"]' \
        --change 'EXPOSE 8501' \
        "$tarball" "$ref" >/dev/null
fi
echo "$ref"
