#!/usr/bin/env python3
"""make_manpage.py DLOR VERSION OUT: writes the man page dlor.1 from the
command's own help texts ('dlor --help' and 'dlor COMMAND --help'), so the
page says what the command says."""
import re
import subprocess
import sys


def run_help(binary, *args):
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout:
        sys.exit(f"make_manpage: '{' '.join([binary, *args])} --help' failed (exit {p.returncode})")
    return p.stdout


def esc(text):
    """troff text: backslashes and hyphens escaped, no line starting with a control character."""
    out = []
    for line in text.split("\n"):
        line = line.replace("\\", "\\e").replace("-", "\\-")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def paragraphs(lines):
    """Blank-line separated paragraphs as .PP blocks (reflowed by the viewer)."""
    text, para = [], []
    for line in lines + [""]:
        if line.strip():
            para.append(line.strip())
        elif para:
            text.append(".PP\n" + esc(" ".join(para)))
            para = []
    return text


OPT = re.compile(r"^  (-\w, --\S+|    --\S+|-\w, --\S+)( [^ ].*?)?\s{2,}(\S.*)$")


def command_section(binary, name, summary):
    lines = run_help(binary, name).rstrip("\n").split("\n")
    usage = []
    i = 0
    while i < len(lines) and lines[i].strip():  # the usage lines
        usage.append(lines[i].strip())
        i += 1
    desc, opts = [], []
    for line in lines[i:]:
        m = OPT.match(line)
        if m:
            opts.append([m.group(1).strip() + (m.group(2) or ""), m.group(3)])
        elif opts and line.startswith(" " * 20) and line.strip():
            opts[-1][1] += " " + line.strip()  # an option's help, continued
        elif not opts:
            desc.append(line)
    out = [f'.SS "dlor {name}"', esc(summary) + ".", ".PP", ".nf", esc("\n".join(usage)), ".fi"]
    out += paragraphs(desc)
    for flag, help_text in opts:
        out += [".TP", "\\fB" + esc(flag) + "\\fR", esc(help_text)]
    return "\n".join(out)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: make_manpage.py DLOR VERSION OUT")
    binary, version, out_path = sys.argv[1:]
    top = run_help(binary).split("\n")
    commands = []
    for line in top:
        m = re.match(r"^  (\S+)\s+(\S.*)$", line)
        if m:
            commands.append((m.group(1), m.group(2)))
    if not commands:
        sys.exit("make_manpage: 'dlor --help' lists no commands")
    tagline = next(l for l in top if l.strip() and not l.startswith("usage:"))
    page = [f'.TH DLOR 1 "" "dlor {version}" "User Commands"',
            ".SH NAME", "dlor \\- " + esc(tagline.strip().rstrip(".")),
            ".SH SYNOPSIS", ".B dlor", ".I COMMAND", "[\\fIARGS\\fR]", ".br", ".B dlor", "\\-\\-version | \\-\\-help",
            ".SH DESCRIPTION",
            esc("dlor turns the dense layers of a neural network into Diagonal-plus-Low-Rank (DLoR) forms, "
                "verifies them against the dense weights, and runs them in an allocation-free runtime. "
                "Each command below is described by its own help text ('dlor COMMAND --help')."),
            ".SH COMMANDS"]
    for name, summary in commands:
        page.append(command_section(binary, name, summary))
    page += [".SH EXIT STATUS", "0 on success, 1 for bad input or a failed check, 2 for a usage error.",
             ".SH SEE ALSO", esc("The C library libdlor: dlor.h and dlor_runtime.h (pkg-config dlor).")]
    with open(out_path, "w") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
