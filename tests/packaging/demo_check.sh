#!/usr/bin/env bash
# demo_check.sh SOURCE_DIR: tools/demo behaves from any folder. It runs the demo from a scratch
# folder on a stand-in build (meson and ninja replaced by no-ops, examples/lenet by a script that
# writes the files it is asked for) and stand-in data, and checks that
#   - --help prints the example's help and leaves earlier pictures in place;
#   - a run prints the paths of its outputs absolute, so each names a file that exists, whatever
#     the folder the demo was run from and however the output folder was given.
set -euo pipefail
# The demo installs what is missing; a test must not, so without Graphviz this is skipped (77).
command -v dot >/dev/null 2>&1 || { echo "Graphviz (dot) is missing: skipped"; exit 77; }
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/build/examples" "$tmp/build/meson-private" "$tmp/data" "$tmp/elsewhere" \
    "$tmp/out"
touch "$tmp/build/meson-private/coredata.dat"
cat >"$tmp/bin/meson" <<'SH'
#!/bin/sh
case "$1" in --version) echo 1.0.1 ;; introspect) echo '[]' ;; esac
SH
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/ninja"
cat >"$tmp/build/examples/lenet" <<'SH'
#!/bin/sh
# Stands in for the LeNet example: prints help, or writes each output file it is given.
while [ $# -gt 0 ]; do
    case "$1" in
    --help) echo "usage: lenet [options]"; exit 0 ;;
    --dot) echo 'digraph g { a -> b }' >"$2"; shift ;;
    --svg) echo '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$2"; shift ;;
    --csv) echo 'epoch' >"$2"; shift ;;
    *) ;;
    esac
    shift
done
echo "test accuracy 86.00%"
SH
chmod +x "$tmp/bin/meson" "$tmp/bin/ninja" "$tmp/build/examples/lenet"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
    t10k-labels-idx1-ubyte; do
    echo x >"$tmp/data/$f"
done
# The output folder given relative to the tapegrad folder, as a user of TG_DEMO_OUT might.
out_rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
    "$tmp/out" "$src")
demo() {
    (cd "$tmp/elsewhere" && PATH="$tmp/bin:$PATH" TG_DEMO_BUILD_DIR="$tmp/build" \
        TG_DEMO_OUT="$out_rel" TG_DATA_DIR="$tmp/data" "$src/tools/demo" "$@")
}

echo old >"$tmp/out/lenet-step.svg"
echo old >"$tmp/out/lenet-curves.svg"
help=$(demo --help) || { echo "tools/demo --help failed: $help"; exit 1; }
grep -q "usage: lenet" <<<"$help" || { echo "tools/demo --help printed no help: $help"; exit 1; }
for f in lenet-step.svg lenet-curves.svg; do
    [[ $(cat "$tmp/out/$f") == old ]] || { echo "tools/demo --help deleted or changed out/$f"; exit 1; }
done
echo "--help: help printed, earlier pictures kept"

run=$(demo) || { echo "tools/demo failed: $run"; exit 1; }
echo "$run"
paths=$(grep -o '[^ ()]*out/lenet[-a-z]*\.[a-z]*' <<<"$run" | sort -u)
[[ -n $paths ]] || { echo "the demo named none of its outputs"; exit 1; }
for p in $paths; do
    [[ $p == /* ]] || { echo "the demo printed '$p', a path relative to another folder"; exit 1; }
    (cd "$tmp/elsewhere" && [[ -f $p ]]) || { echo "the demo printed '$p', which does not exist"; exit 1; }
done
echo "run: every output named by an absolute path that exists: $(echo $paths)"
