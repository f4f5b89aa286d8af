#!/usr/bin/env python3
"""layering.py NM STATIC_LIBRARY SOURCE_DIR: the folders of src/ depend on one another one way.

The rule (docs/ARCHITECTURE.md, docs/CONTRIBUTING.md S2.5): the folders are ordered as in ORDER;
a folder includes the private headers, and calls the internal functions, only of itself and the
folders before it. A call to a later folder goes through the public API (include/), as the
reverse sweep's tg_add does. And no two source files depend on each other, directly or round a
longer loop, except the op files of src/ops, whose backward rules are made of one another's ops.

Three checks: #include lines (from the sources), calls between folders and loops between files
(from the symbols of the static library's objects, which is what the code really does).
"""
import collections
import re
import subprocess
import sys
from pathlib import Path

# src/dist is a library of its own (libtapegrad_dist) on the public API: last, and in no
# folder's way.
ORDER = ["src/ops/kernels", "src/graph", "src/ops", "src/nn", "src/optim", "src/data", "src/io",
         "src/dist"]
LOOPS_ALLOWED_IN = "src/ops"  # op files only, not the kernels below them


def folder_of(path):
    """The folder of ORDER that holds path (relative to the source dir), or None."""
    parent = str(Path(path).parent)
    return parent if parent in ORDER else None


def public_functions(src):
    names = set()
    for header in sorted((src / "include").rglob("*.h")):
        text = re.sub(r"/\*.*?\*/", " ", header.read_text(encoding="utf-8"), flags=re.S)
        names.update(re.findall(r"\b(tg_\w+)\s*\(", text))
    return names


def include_problems(src):
    problems = []
    for f in sorted((src / "src").rglob("*.[ch]")):
        rel = f.relative_to(src)
        mine = folder_of(rel)
        if mine is None:
            problems.append(f"{rel}: in no folder of the rule; add its folder to ORDER")
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
            if not m:
                continue
            name = m.group(1)
            for base in (f.parent, src / "src", src / "include"):
                target = (base / name).resolve()
                if target.is_file():
                    break
            else:
                problems.append(f"{rel}:{n}: cannot find \"{name}\"")
                continue
            target = target.relative_to(src.resolve())
            if target.parts[0] == "include":
                continue
            theirs = folder_of(target)
            if theirs is None or ORDER.index(theirs) > ORDER.index(mine):
                problems.append(f"{rel}:{n}: includes {target}, a private header of "
                                f"{theirs or 'no folder of the rule'}, which comes after {mine}")
    return problems


def object_sources(src, names):
    """Maps meson's object names ("ops_kernels_conv.c.o") to source paths."""
    out = {}
    for name in names:
        for folder in sorted(ORDER, key=len, reverse=True):
            prefix = folder[len("src/"):].replace("/", "_") + "_"
            if name.startswith(prefix):
                path = folder + "/" + name[len(prefix):-len(".o")]
                if (src / path).is_file():
                    out[name] = path
                    break
    return out


def symbol_graph(nm, library):
    text = subprocess.run([nm, "-A", library], check=True, capture_output=True, text=True).stdout
    defined, used = {}, collections.defaultdict(set)
    for line in text.splitlines():
        # nm -A prints "lib.a:member.o:0000 T name" or "lib.a:member.o:         U name".
        m = re.match(r"(.*?):([^:]+\.o):\s*([0-9a-f]*)\s+(\w)\s+(\S+)$", line)
        if not m:
            continue
        obj, kind, sym = m.group(2), m.group(4), m.group(5)
        if kind == "U":
            used[obj].add(sym)
        elif kind in "TDRBCGS":
            defined[sym] = obj
    edges = collections.defaultdict(dict)
    for obj, syms in used.items():
        for sym in syms:
            if sym in defined and defined[sym] != obj:
                edges[obj].setdefault(defined[sym], sym)
    return edges


def loops(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(set(edges) | {w for e in edges.values() for w in e}):
        if v not in index:
            visit(v)
    return found


def main():
    nm, library, src = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    problems = include_problems(src)
    edges = symbol_graph(nm, library)
    objects = set(edges) | {w for e in edges.values() for w in e}
    source = object_sources(src, objects)
    if len(source) < 40 or len(source) != len(objects):
        unknown = sorted(objects - set(source))
        problems.append(f"{len(source)} objects mapped to sources; unknown: {unknown[:5]}")
    public = public_functions(src)
    calls = 0
    for obj, targets in sorted(edges.items()):
        for target, sym in sorted(targets.items()):
            a, b = source.get(obj), source.get(target)
            if not a or not b:
                continue
            fa, fb = folder_of(a), folder_of(b)
            calls += fa != fb
            if ORDER.index(fb) > ORDER.index(fa) and sym not in public:
                problems.append(f"{a} calls {sym} in {b}: internal, and {fb} comes after {fa}")
    for comp in loops({source[o]: {source[t]: s for t, s in e.items()}
                       for o, e in edges.items() if o in source}):
        if all(str(Path(p).parent) == LOOPS_ALLOWED_IN for p in comp):
            continue
        problems.append("these files depend on one another in a loop: " + ", ".join(comp))
    for p in problems:
        print(p)
    print(f"{len(source)} source files, {calls} calls between folders, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
