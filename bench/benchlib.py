"""bench/benchlib.py: what every bench/run* driver shares: the repository root, loading a
sibling script as a module, running a command that must succeed, and building the release
library with one benchmark program compiled against it.

Each driver is a script of its own (run from anywhere, no install), so it finds this module
next to itself: `sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))`.
"""
import importlib.machinery
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Options of the release build the drivers measure: no tests, nothing the bench does not run.
RELEASE = ["--buildtype=release", "-Dtests=disabled", "-Dexamples=false"]


def load(name, path):
    """The script at path (relative to the root, e.g. bench/check-peer-blas) as a module."""
    loader = importlib.machinery.SourceFileLoader(name, os.path.join(ROOT, path))
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    loader.exec_module(mod)
    return mod


def run(prog, cmd, env=None, cwd=ROOT):
    """Runs cmd, capturing its output; on failure exits naming prog, the command and its
    output, since a benchmark built or run half-way has nothing true to print."""
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s: %s failed (%d):\n%s%s" % (prog, " ".join(cmd), r.returncode, r.stdout,
                                                 r.stderr))
    return r


def build(prog, build_dir, source, exe_name, options=RELEASE, targets=()):
    """Configures build_dir with options (first time only), builds targets (all when empty)
    and compiles bench/source against the static library; returns the program's path."""
    if not os.path.isdir(os.path.join(ROOT, build_dir)):
        run(prog, ["meson", "setup", build_dir] + list(options))
    run(prog, ["ninja", "-C", build_dir] + list(targets))
    exe = os.path.join(build_dir, exe_name)
    run(prog, ["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Iinclude", "bench/" + source,
               os.path.join(build_dir, "src", "libtapegrad.a"), "-lm", "-lpthread", "-o", exe])
    return exe


def cpu_has(flag):
    """Whether /proc/cpuinfo lists flag (avx2, avx512f, ...); False where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and (" %s " % flag) in line + " " for line in f)
    except OSError:
        return False
