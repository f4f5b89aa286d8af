#!/usr/bin/env python3
"""exports.py NM LIBRARY INCLUDE_DIR [--only H | --skip H]: a shared library exports exactly its API.

The core library's API is every header under INCLUDE_DIR but tapegrad/dist.h (--skip dist.h);
libtapegrad_dist's is that header alone (--only dist.h).

Every symbol the library exports must start with tg_ and be declared in a header under
INCLUDE_DIR, so that nothing internal (kernels, the JSON reader) can collide with another
library's names in the same program; and every function declared there must be exported, so that
a public header whose declarations were left outside TG_PUBLIC_BEGIN/END is caught too.
"""
import re
import subprocess
import sys
from pathlib import Path


def declared_functions(include_dir, only=None, skip=None):
    names = set()
    for header in sorted(Path(include_dir).rglob("*.h")):
        if (only and header.name != only) or (skip and header.name == skip):
            continue
        text = header.read_text(encoding="utf-8")
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        # Preprocessor lines (with their continuations) hold the call macros, not declarations.
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        # A name followed by "(" that is not "(*" is a function being declared; a type name
        # before a function pointer ("tg_status (*fn)(...)") is followed by "(*".
        names.update(re.findall(r"\b(tg_\w+)\s*\((?!\s*\*)", text))
    return names


def exported_symbols(nm, library):
    out = subprocess.run([nm, "-D", "--defined-only", "--extern-only", library],
                         check=True, capture_output=True, text=True).stdout
    symbols = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            # Versioned names look like name@@VERSION.
            symbols.add(fields[2].split("@")[0])
    return symbols


def main():
    nm, library, include_dir = sys.argv[1:4]
    rest = sys.argv[4:]
    only = rest[1] if rest[:1] == ["--only"] else None
    skip = rest[1] if rest[:1] == ["--skip"] else None
    declared = declared_functions(include_dir, only, skip)
    exported = exported_symbols(nm, library)
    if not declared or not exported:
        print(f"found {len(declared)} declarations and {len(exported)} exports: "
              "the check itself is broken")
        return 1
    stray = sorted(s for s in exported if not s.startswith("tg_") or s not in declared)
    hidden = sorted(declared - exported)
    for s in stray:
        print(f"exported but not a tg_ function declared in include/: {s}")
    for s in hidden:
        print(f"declared in include/ but not exported (outside TG_PUBLIC_BEGIN/END?): {s}")
    print(f"{len(exported)} exported symbols, {len(declared)} declared functions, "
          f"{len(stray)} stray, {len(hidden)} missing")
    return 1 if stray or hidden else 0


if __name__ == "__main__":
    sys.exit(main())
