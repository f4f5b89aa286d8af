#!/usr/bin/env bash
# install_check.sh BUILD_DIR SOURCE_DIR: installs the build into a scratch destdir and builds and
# runs the README's example against it through pkg-config, both shared and static, the way a user
# of an installed tapegrad would.
set -euo pipefail
build=$1 src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(find "$dest" -name tapegrad.pc | head -n 1)
[ -n "$pc" ] || { echo "tapegrad.pc was not installed"; exit 1; }
for h in tapegrad.h tapegrad/tape.h tapegrad/ops.h; do
  [ -n "$(find "$dest" -path "*/include/$h")" ] || { echo "header $h was not installed"; exit 1; }
done
python3 "$src/tools/extract_example.py" readme "$src/README.md" "$dest/fit.c"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
libdir=$(pkg-config --variable=libdir tapegrad)
cc -std=c11 -o "$dest/fit_shared" "$dest/fit.c" $(pkg-config --cflags --libs tapegrad) -Wl,-rpath,"$libdir"
cc -std=c11 -o "$dest/fit_static" "$dest/fit.c" $(pkg-config --cflags tapegrad) "$libdir/libtapegrad.a" $(pkg-config --libs-only-l --static tapegrad | sed 's/-ltapegrad//') -lm -pthread
for exe in fit_shared fit_static; do
  out=$("$dest/$exe")
  echo "$exe: $out"
  echo "$out" | awk '$1 == "w" && ($3 - 1)^2 < 1e-6 && ($4 - 2)^2 < 1e-6 { ok = 1 } END { exit !ok }' ||
    { echo "unexpected output from $exe"; exit 1; }
done
