#!/usr/bin/env python3
"""Turns `listingd serve --help` (stdin) into the lines of /etc/listingd/listingd.env: for
each flag, its description and `#LISTINGD_<FLAG>=<default>`, commented out, so that the
file says every setting and changes nothing until a line is uncommented."""
import re
import sys

# The unit gives these on its command line, which wins over the environment.
SET_BY_UNIT = {"LISTINGD_DB": "the unit's ExecStart gives --db /var/lib/listingd/listingd.db "
                              "(a flag wins): change it with `systemctl edit listingd`"}

entries = []
for line in sys.stdin.read().splitlines():
    m = re.match(r"  (--[a-z0-9-]+)(.*)\(Env:(LISTINGD_[A-Z0-9_]+)\)\s*(.*)$", line)
    if m:
        flag, spec, var, desc = m.groups()
        default = ""
        d = re.search(r"=(\S.*?)(?: \.\.\.)?\s*$", spec.strip())
        if d:
            default = d.group(1)
            if default.startswith("[") and default.endswith("]"):
                default = default[1:-1]  # a list: LISTINGD_X=a,b
        elif not spec.strip():
            default = "false"  # a switch: LISTINGD_X=true turns it on
        entries.append([flag, var, default, desc.strip()])
    elif entries and line.startswith(" " * 30) and line.strip():
        entries[-1][3] = (entries[-1][3] + " " + line.strip()).strip()

if not entries:
    sys.exit("env_file.py: no flag with an Env: name in the help text")
for flag, var, default, desc in entries:
    print(f"# {flag}: {desc}")
    if var in SET_BY_UNIT:
        print(f"#   ({SET_BY_UNIT[var]})")
    print(f"#{var}={default}")
