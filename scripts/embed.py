#!/usr/bin/env python3
"""Turns files into a C++ source that defines them as std::string_view constants.

usage: embed.py OUT.cpp name=FILE ... [--migrations FILE ...]
Each name=FILE becomes `listingd::embedded::name`; the --migrations files become
`listingd::embedded::migrations`, an array of {file name, SQL} in the order given.
"""
import os
import sys


def literal(data: bytes) -> str:
    # A char array written as numbers: exact for any byte, no escaping rules to get wrong.
    body = ",".join(str(b) for b in data)
    return "{" + body + (",0" if body else "0") + "}"


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    named, migrations = [], []
    target = named
    for arg in args:
        if arg == "--migrations":
            target = migrations
            continue
        target.append(arg)

    lines = ['#include "listingd/embedded.h"', "", "namespace listingd::embedded {", "namespace {"]
    for i, path in enumerate(p.split("=", 1)[1] for p in named):
        lines.append(f"const char k_named_{i}[] = {literal(open(path, 'rb').read())};")
    for i, path in enumerate(migrations):
        lines.append(f"const char k_migration_{i}[] = {literal(open(path, 'rb').read())};")
    lines.append("}  // namespace")
    for i, spec in enumerate(named):
        name, path = spec.split("=", 1)
        size = os.path.getsize(path)
        lines.append(f"const std::string_view {name}{{k_named_{i}, {size}}};")
    lines.append("const std::vector<Migration> migrations = {")
    for i, path in enumerate(migrations):
        size = os.path.getsize(path)
        lines.append(f'  {{"{os.path.basename(path)}", {{k_migration_{i}, {size}}}}},')
    lines.append("};")
    lines.append("}  // namespace listingd::embedded")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
