#!/usr/bin/env bash
# no_mpi.sh SOURCE_DIR: without MPI, tapegrad configures as before and only the data-parallel
# library (libtapegrad_dist), its header's install and its tests are left out. (Meson finds MPI
# through pkg-config or the mpicc wrapper on PATH, which cannot be hidden without hiding the
# compiler, so -Dmpi=disabled stands in for a machine without MPI.)
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson setup "$tmp/off" "$src" -Dmpi=disabled -Dexamples=false >"$tmp/off.log" 2>&1 ||
    { echo "mpi=disabled: meson setup failed:"; cat "$tmp/off.log"; exit 1; }
grep -q "libtapegrad_dist (data-parallel training) is skipped: mpi=disabled" "$tmp/off.log" ||
    { echo "mpi=disabled: the configuration does not say the dist library is skipped:"; cat "$tmp/off.log"; exit 1; }
targets=$(meson introspect "$tmp/off" --targets)
grep -q '"name": "tapegrad"' <<<"$targets" || { echo "mpi=disabled: no core library target"; exit 1; }
if grep -q 'tapegrad_dist\|dist_train' <<<"$targets"; then
    echo "mpi=disabled: dist targets were defined anyway"
    exit 1
fi
if meson introspect "$tmp/off" --tests | grep -q '"dist_'; then
    echo "mpi=disabled: dist tests were defined anyway"
    exit 1
fi
if meson introspect "$tmp/off" --installed | grep -q 'dist.h'; then
    echo "mpi=disabled: tapegrad/dist.h would be installed without its library"
    exit 1
fi
echo "mpi=disabled: configured without libtapegrad_dist, its header and its tests"
