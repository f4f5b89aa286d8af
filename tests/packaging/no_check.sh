#!/usr/bin/env bash
# no_check.sh SOURCE_DIR: tapegrad configures without Check, as its users need no test framework.
# It configures the tree three ways in scratch dirs: tests=disabled, and tests=auto with Check
# hidden from pkg-config (PKG_CONFIG_LIBDIR set to an empty dir) must both succeed, say that the
# tests are skipped and define no tests; tests=enabled with Check hidden must fail.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"

# configure NAME [meson options...]: meson setup into $tmp/NAME, its output in $tmp/NAME.log.
configure() {
    local name=$1
    shift
    meson setup "$tmp/$name" "$src" -Dexamples=false "$@" >"$tmp/$name.log" 2>&1
}

expect_skipped() {
    local name=$1
    if ! grep -q "The test suites are skipped" "$tmp/$name.log"; then
        echo "$name: the configuration does not say that the tests are skipped:"
        cat "$tmp/$name.log"
        exit 1
    fi
    local tests
    tests=$(meson introspect "$tmp/$name" --tests)
    if [[ "$tests" != "[]" ]]; then
        echo "$name: tests were defined anyway: $tests"
        exit 1
    fi
    echo "$name: configured, tests skipped"
}

configure disabled -Dtests=disabled || { echo "disabled: meson setup failed:"; cat "$tmp/disabled.log"; exit 1; }
expect_skipped disabled

PKG_CONFIG_LIBDIR=$tmp/empty configure no_check ||
    { echo "no_check: meson setup failed without Check:"; cat "$tmp/no_check.log"; exit 1; }
grep -q 'dependency check found: NO' "$tmp/no_check.log" ||
    { echo "no_check: Check was still found, so this proves nothing:"; cat "$tmp/no_check.log"; exit 1; }
expect_skipped no_check

if PKG_CONFIG_LIBDIR=$tmp/empty configure enabled -Dtests=enabled; then
    echo "enabled: tests=enabled configured without Check"
    exit 1
fi
echo "enabled: refused without Check, as asked"
