#!/usr/bin/env python3
"""Writes the man page listingd(1) to stdout, from the binary's own --help texts.

usage: manpage.py LISTINGD_BINARY VERSION

The top-level --help gives the description and the list of commands; each command's --help
(and each sub-command's, e.g. `token create`) gives its options, so the page says what the
binary does, flag for flag. CLI11's layout: an option's name padded to 30 columns, its
description after it or, for a long name, on the next line indented by 30.
"""
import re
import subprocess
import sys

SECTIONS = ("Usage:", "Options:", "Subcommands:", "Positionals:")


def help_of(binary, *words):
    return subprocess.run([binary, *words, "--help"], check=True, capture_output=True,
                          text=True).stdout


def roff(text):
    """Text made safe for roff: backslashes, dashes of flags, lines that start with a dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line
                     for line in text.split("\n"))


def parse(text):
    """A --help text as (description lines, usage, {section: [(name, description)]})."""
    description, usage, sections = [], "", {}
    current = None
    for line in text.splitlines():
        if line.startswith("Usage:"):
            usage = line[len("Usage:"):].strip()
            current = None
            continue
        if line in SECTIONS:
            current = sections.setdefault(line.rstrip(":"), [])
            continue
        if current is None:
            if line.strip() and not line.startswith(("Exit status:", "Shell completion:")):
                description.append(line.strip())
            continue
        if not line.strip():
            current = None if current is not None and not current else current
            continue
        if line.startswith(" " * 30) and current:
            name, desc = current[-1]
            current[-1] = (name, (desc + " " + line.strip()).strip())
        elif line.startswith("  "):
            m = re.match(r"  (\S.*?)(?:\s{2,}(\S.*))?$", line)
            current.append((m.group(1).strip(), (m.group(2) or "").strip()))
    return description, usage, sections


def options(items):
    out = []
    for name, desc in items:
        out.append(".TP")
        flag, _, rest = name.partition(" ")  # "--port", "INT:INT in [0 - 65535]=8080 (Env:...)"
        out.append(f"\\fB{roff(flag)}\\fR {roff(rest)}".rstrip())
        out.append(roff(desc))
    return out


def command(binary, words, out):
    text = help_of(binary, *words)
    description, usage, sections = parse(text)
    out.append(f".SS listingd {' '.join(words)}")
    out.append(roff(" ".join(description)))
    usage = re.sub(r"^\S+( \S+)*? \[OPTIONS\]", "[OPTIONS]", usage)
    out.append(".PP")
    out.append(f"\\fBlistingd {roff(' '.join(words))}\\fR {roff(usage if usage.startswith('[') else '')}".rstrip())
    for section in ("Positionals", "Options"):
        items = [i for i in sections.get(section, []) if not i[0].startswith("-h,--help")]
        if items:
            out += options(items)
    for name, _ in sections.get("Subcommands", []):
        command(binary, words + [name], out)


def main():
    binary, version = sys.argv[1], sys.argv[2]
    description, _, sections = parse(help_of(binary))
    summary = description[0].split(":", 1)[-1].strip().rstrip(".") if description else "listingd"
    out = [
        f'.TH LISTINGD 1 "" "listingd {roff(version)}" "User Commands"',
        ".SH NAME",
        f"listingd \\- {roff(summary)}",
        ".SH SYNOPSIS",
        "\\fBlistingd\\fR [\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".br",
        "\\fBlistingd \\-\\-version\\fR | \\fB\\-\\-help\\fR",
        ".SH DESCRIPTION",
    ]
    for line in description:
        out += [roff(line), ".PP"]
    out.append("While \\fBlistingd serve\\fR runs, its browser UI is at \\fI/\\fR, the API "
               "reference at \\fI/docs\\fR and the OpenAPI contract at \\fI/openapi.yaml\\fR.")
    out.append(".SH OPTIONS")
    out += options([i for i in sections.get("Options", [])])
    out.append(".SH COMMANDS")
    for name, _ in sections.get("Subcommands", []):
        command(binary, [name], out)
    out += [
        ".SH ENVIRONMENT",
        "Every flag \\fB\\-\\-NAME\\fR of a command can be set as \\fBLISTINGD_NAME\\fR "
        "(upper case, \\fB_\\fR for \\fB\\-\\fR), e.g. \\fBLISTINGD_PORT=9000\\fR; a flag on "
        "the command line wins over the environment, which wins over a \\fB\\-\\-config\\fR file.",
        ".SH FILES",
        ".TP", "\\fI/etc/listingd/listingd.env\\fR",
        "the service's settings, as \\fBLISTINGD_\\fR variables (read by systemd).",
        ".TP", "\\fI/var/lib/listingd/listingd.db\\fR",
        "the service's database (with its \\fI\\-wal\\fR and \\fI\\-shm\\fR files), "
        "owned by the system user \\fBlistingd\\fR.",
        ".TP", "\\fI/lib/systemd/system/listingd.service\\fR",
        "the systemd unit: \\fBsystemctl enable \\-\\-now listingd\\fR.",
        ".SH EXIT STATUS",
        "0 done, 1 failed (a database that cannot be opened, a port taken), 2 a usage error "
        "(an unknown command, flag or config key, a bad value).",
        ".SH EXAMPLES",
        ".nf",
        "sudo \\-u listingd listingd token create \\-\\-name ci \\-\\-db /var/lib/listingd/listingd.db",
        "sudo \\-u listingd listingd backup \\-\\-db /var/lib/listingd/listingd.db \\-\\-to /var/backups/listingd.db",
        "curl \\-s http://127.0.0.1:8080/listings",
        ".fi",
        ".SH SEE ALSO",
        "\\fI/usr/share/doc/listingd/README.md.gz\\fR; the API reference at "
        "\\fIhttp://127.0.0.1:8080/docs\\fR while the service runs.",
    ]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
