#!/usr/bin/env bash
# install_check.sh BUILD_DIR SOURCE_DIR: installing tapegrad works as README.md's "Installing" says.
#
# 1. The user-prefix block of the README, run as it stands with HOME pointing at a scratch dir,
#    from a copy of the source tree made of symlinks: it configures, builds and installs the
#    library under ~/.local and builds and runs fit.c (the README's first program) against it
#    through pkg-config, finding libtapegrad.so.0 at run time by its rpath.
# 2. The system-prefix block needs root and changes /usr/local, so it is not run; what makes it
#    work is checked instead: BUILD_DIR (configured with meson's default prefix) is installed into
#    a scratch destdir, the .pc file and the library land in directories that pkg-config and the
#    dynamic loader search by default, and fit.c builds against them, shared and static.
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The ```sh block of README.md whose first line is "meson setup build-user".
python3 - "$src/README.md" >"$tmp/user-install.sh" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
for i, line in enumerate(lines):
    if line.strip() == "```sh" and lines[i + 1].startswith("meson setup build-user"):
        end = lines.index("```", i + 1)
        print("\n".join(lines[i + 1:end]))
        break
else:
    sys.exit("README.md has no ```sh block starting with 'meson setup build-user'")
PY
python3 "$src/tools/extract_example.py" readme "$src/README.md" "$tmp/fit.c"

check_fit_output() {  # NAME OUTPUT: the fit must print w close to (1, 2).
    echo "$1: $2"
    echo "$2" | awk '$1 == "w" && ($3 - 1)^2 < 1e-6 && ($4 - 2)^2 < 1e-6 { ok = 1 } END { exit !ok }' ||
        { echo "unexpected output from $1"; exit 1; }
}

# --- 1. the user prefix, exactly as the README says
mkdir "$tmp/tree" "$tmp/home"
for entry in "$src"/*; do
    case $(basename "$entry") in build*) continue ;; esac  # others' build dirs stay out
    ln -s "$entry" "$tmp/tree/"
done
cp "$tmp/fit.c" "$tmp/tree/fit.c"
out=$(cd "$tmp/tree" && env -u PKG_CONFIG_PATH HOME="$tmp/home" bash -euo pipefail "$tmp/user-install.sh" 2>&1) ||
    { echo "the README's user-prefix commands failed:"; echo "$out"; exit 1; }
check_fit_output "user prefix" "$(echo "$out" | tail -n 1)"
[[ -f "$tmp/home/.local/lib/pkgconfig/tapegrad.pc" ]] ||
    { echo "tapegrad.pc is not in ~/.local/lib/pkgconfig, where the README points PKG_CONFIG_PATH"; exit 1; }
# The installed program runs on its own, found by its rpath, not by an environment variable.
check_fit_output "user prefix, run again" "$(env -u LD_LIBRARY_PATH "$tmp/tree/fit")"

# --- 2. the system prefix: the places it installs to are searched by default
dest=$tmp/dest
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
read -r prefix libdir < <(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["libdir"])')
[[ $libdir = /* ]] || libdir=$prefix/$libdir
[[ -f "$dest$libdir/pkgconfig/tapegrad.pc" ]] || { echo "tapegrad.pc is not in $libdir/pkgconfig"; exit 1; }
for h in tapegrad.h tapegrad/tape.h tapegrad/ops.h; do
    [[ -f "$dest$prefix/include/$h" ]] || { echo "header $h was not installed"; exit 1; }
done
if [[ $prefix == /usr/local ]]; then
    pc_path=":$(pkg-config --variable pc_path pkg-config):"
    [[ $pc_path == *":$libdir/pkgconfig:"* ]] ||
        { echo "pkg-config does not search $libdir/pkgconfig by default (it searches $pc_path)"; exit 1; }
    # ldconfig -v lists only directories that exist already, so read its configuration instead.
    # grep reads the files itself: `cat | grep -q` under pipefail fails at random when grep
    # stops at the first match and cat dies of SIGPIPE.
    if [[ -f /etc/ld.so.conf ]]; then
        grep -qxh "[[:space:]]*$libdir/\?" /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null ||
            { echo "ldconfig does not search $libdir, so the README's ldconfig would not help"; exit 1; }
    fi
else
    echo "$build has prefix $prefix, not /usr/local: the default search paths are not checked"
fi
export PKG_CONFIG_PATH=$dest$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
pc_libdir=$(pkg-config --variable=libdir tapegrad)
cc -std=c11 -o "$tmp/fit_shared" "$tmp/fit.c" $(pkg-config --cflags --libs tapegrad) -Wl,-rpath,"$pc_libdir"
cc -std=c11 -o "$tmp/fit_static" "$tmp/fit.c" $(pkg-config --cflags tapegrad) "$pc_libdir/libtapegrad.a" \
    $(pkg-config --libs-only-l --static tapegrad | sed 's/-ltapegrad//') -lm -pthread
check_fit_output "system prefix, shared" "$("$tmp/fit_shared")"
check_fit_output "system prefix, static" "$("$tmp/fit_static")"
