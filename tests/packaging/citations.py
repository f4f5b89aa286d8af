#!/usr/bin/env python3
"""citations.py SOURCE_DIR: every rule the code cites is in the repository.

Comments and docs cite the house rules as "CONTRIBUTING S5.4" (a rule) or "CONTRIBUTING S4" (a
section) and the decisions as "CONTRIBUTING D2"; each must be defined in docs/CONTRIBUTING.md.
Nothing may cite a document outside the repository (the style guide and design notes the code was
first written against), since a reader of the repository cannot open it.
"""
import re
import sys
from pathlib import Path

FOLDERS = ["src", "include", "tests", "tools", "examples", "bench", "docs"]
TOP_FILES = ["README.md", "meson.build", "meson_options.txt"]
SUFFIXES = {".c", ".h", ".def", ".py", ".md", ".build", ".txt", ".sh", ""}
OUTSIDE = [r"\bSTYLE S\d", r"\bDESIGN decision", r"\.\./shared/", r"\bshared/(STYLE|DESIGN)",
           r"\bSTYLE\.md\b", r"\bDESIGN\.md\b"]


def defined_rules(text):
    rules = set()
    section = None
    for line in text.splitlines():
        m = re.match(r"###\s+S(\d+)\.", line)
        if m:
            section = m.group(1)
            rules.add("S" + section)
            continue
        if line.startswith("#"):
            section = None
        m = re.match(r"(\d+)\.\s", line)
        if section and m:
            rules.add("S%s.%s" % (section, m.group(1)))
        m = re.match(r"-\s+\*\*(D\d+)\.", line)
        if m:
            rules.add(m.group(1))
    return rules


def files(src):
    for name in TOP_FILES:
        yield src / name
    for folder in FOLDERS:
        for path in sorted((src / folder).rglob("*")):
            if path.is_file() and (path.suffix in SUFFIXES or path.name == "meson.build") and \
                    "fixtures" not in path.parts:
                yield path


def main():
    src = Path(sys.argv[1])
    contributing = src / "docs" / "CONTRIBUTING.md"
    rules = defined_rules(contributing.read_text(encoding="utf-8"))
    problems, cited = [], 0
    for path in files(src):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(src)
        for n, line in enumerate(text.splitlines(), 1):
            if path.name == "citations.py":
                break  # the patterns below name what they look for
            if any(re.search(pattern, line) for pattern in OUTSIDE):
                problems.append(f"{rel}:{n}: cites a document outside the repository: "
                                f"{line.strip()}")
            for rule in re.findall(r"CONTRIBUTING ((?:S\d+(?:\.\d+)?)|D\d+)", line):
                cited += 1
                if rule not in rules:
                    problems.append(f"{rel}:{n}: cites CONTRIBUTING {rule}, which "
                                    "docs/CONTRIBUTING.md does not define")
    for p in problems:
        print(p)
    print(f"{len(rules)} rules defined, {cited} citations, {len(problems)} problems")
    return 1 if problems or not rules or not cited else 0


if __name__ == "__main__":
    sys.exit(main())
