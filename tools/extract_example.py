#!/usr/bin/env python3
"""extract_example.py: pulls a C example out of README.md or include/tapegrad.h into a .c file.

The test suite compiles and runs what this writes, so the examples a reader sees are the ones
that are known to work. Fails (exit 1, message on stderr) when the example cannot be found,
so a doc edit that breaks the markers breaks the build instead of silently testing nothing.

    extract_example.py readme README.md out.c          the first ```c block
    extract_example.py readme-custom README.md out.c   the ```c block that defines a custom op
    extract_example.py header include/tapegrad.h out.c
"""
import sys

HEADER_START = " *     #include <tapegrad.h>"
HEADER_INDENT = " *     "


def readme_blocks(text):
    """Every fenced ```c block, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```c":
            for j in range(i + 1, len(lines)):
                if lines[j].strip() == "```":
                    blocks.append("\n".join(lines[i + 1:j]) + "\n")
                    i = j
                    break
            else:
                raise ValueError("the ```c block is not closed")
        i += 1
    return blocks


def from_readme(text):
    """The first fenced ```c block."""
    blocks = readme_blocks(text)
    if not blocks:
        raise ValueError("no ```c block")
    return blocks[0]


def from_readme_custom(text):
    """The first fenced ```c block that calls tg_custom_op_new."""
    for block in readme_blocks(text):
        if "tg_custom_op_new(" in block:
            return block
    raise ValueError("no ```c block calling tg_custom_op_new")


def from_header(text):
    """The indented comment block that starts with the #include of tapegrad.h. Inside it a
    bare ' *' line is a blank line of the example; the first other line ends the block."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(HEADER_START)]
    if not starts:
        raise ValueError("no line starting with %r" % HEADER_START)
    body = []
    for line in lines[starts[0]:]:
        if line.startswith(HEADER_INDENT):
            body.append(line[len(HEADER_INDENT):])
        elif line.rstrip() == " *":
            body.append("")
        else:
            break
    while body and body[-1] == "":
        body.pop()
    return "\n".join(body) + "\n"


def main(argv):
    kinds = {"readme": from_readme, "readme-custom": from_readme_custom, "header": from_header}
    if len(argv) != 4 or argv[1] not in kinds:
        sys.stderr.write("usage: extract_example.py readme|readme-custom|header SOURCE OUT.c\n")
        return 2
    kind, source, out = argv[1], argv[2], argv[3]
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        code = kinds[kind](text)
    except (OSError, ValueError) as e:
        sys.stderr.write("extract_example.py: %s: %s\n" % (source, e))
        return 1
    if "main(" not in code:
        sys.stderr.write("extract_example.py: %s: the example has no main()\n" % source)
        return 1
    with open(out, "w", encoding="utf-8") as f:
        f.write("/* Extracted from %s by tools/extract_example.py; edit the source. */\n" % kind)
        f.write(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
