#!/usr/bin/env python3
"""Turns files into a C++ source that defines them as std::string_view constants.

usage: embed.py OUT.cpp name=FILE ... [--migrations FILE ...] [--pg-migrations FILE ...]
              [--assets PATH=FILE ...]
Each name=FILE becomes `listingd::embedded::name`; the --migrations files become
`listingd::embedded::migrations`, an array of {file name, SQL} in the order given (the
--pg-migrations, PostgreSQL's, `postgres_migrations`); the
--assets become `listingd::embedded::web_assets`, an array of {PATH, contents}.
"""
import os
import sys


def literal(data: bytes) -> str:
    # A string literal of three-digit octal escapes: exact for any byte, no escaping rules to
    # get wrong. (A brace list of numbers is not: a byte over 127 narrows into a char.)
    chunks = ["".join(f"\\{b:03o}" for b in data[i:i + 64]) for i in range(0, len(data), 64)]
    return "\n".join(f'"{c}"' for c in chunks) if chunks else '""'


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    named, migrations, pg_migrations, assets = [], [], [], []
    target = named
    for arg in args:
        if arg in ("--migrations", "--pg-migrations", "--assets"):
            target = {"--migrations": migrations, "--pg-migrations": pg_migrations,
                      "--assets": assets}[arg]
            continue
        target.append(arg)

    lines = ['#include "listingd/embedded.h"', "", "namespace listingd::embedded {", "namespace {"]
    for i, path in enumerate(p.split("=", 1)[1] for p in named):
        lines.append(f"const char k_named_{i}[] = {literal(open(path, 'rb').read())};")
    for i, path in enumerate(migrations):
        lines.append(f"const char k_migration_{i}[] = {literal(open(path, 'rb').read())};")
    for i, path in enumerate(pg_migrations):
        lines.append(f"const char k_pg_migration_{i}[] = {literal(open(path, 'rb').read())};")
    for i, path in enumerate(p.split("=", 1)[1] for p in assets):
        lines.append(f"const char k_asset_{i}[] = {literal(open(path, 'rb').read())};")
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
    lines.append("const std::vector<Migration> postgres_migrations = {")
    for i, path in enumerate(pg_migrations):
        size = os.path.getsize(path)
        lines.append(f'  {{"{os.path.basename(path)}", {{k_pg_migration_{i}, {size}}}}},')
    lines.append("};")
    lines.append("const std::vector<Asset> web_assets = {")
    for i, spec in enumerate(assets):
        name, path = spec.split("=", 1)
        size = os.path.getsize(path)
        lines.append(f'  {{"{name}", {{k_asset_{i}, {size}}}}},')
    lines.append("};")
    lines.append("}  // namespace listingd::embedded")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
