#!/usr/bin/env python3
"""Writes dlor's embedded runtime as one header and one source file.

    amalgamate_runtime.py -o DIR --header PUBLIC.h [-I DIR ...] SOURCE.c ...

DIR/dlor_runtime.h is the public header (PUBLIC.h with the headers it includes
inlined); DIR/dlor_runtime.c holds the sources in the order given, with the
private headers they include inlined (a header with an include guard once, one
without each time, as the preprocessor would). The build passes the sources and
include folders of its dlor_runtime target, so the list lives in one place.

Every function the public header declares is marked DLOR_RT_API; everything else
at file scope becomes static, so the program that compiles the two files sees
only the public names. DLOR_RT_API is extern unless DLOR_RT_STATIC is defined
before the header, which makes the public functions static too: a translation
unit that defines it and includes dlor_runtime.c holds a private copy, and two
such copies can live in one program (the stb libraries' STB_*_STATIC). The
macros a source file defines are undefined after it, so that one file's helper
macros cannot change the next file's code.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[^\n]*$', re.M)
GUARD = re.compile(r'\A(?:\s|/\*.*?\*/|//[^\n]*\n)*#[ \t]*ifndef[ \t]+(\w+)[ \t]*\n[ \t]*#[ \t]*define[ \t]+\1\b', re.S)
DEFINE = re.compile(r'^[ \t]*#[ \t]*define[ \t]+(\w+)', re.M)
TOKEN = re.compile(r'''
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<pp>^[ \t]*\#(?:[^\n\\]|\\.)*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<space>\s+)
  | (?P<punct>.)
''', re.S | re.M | re.X)


def die(msg):
    sys.exit("amalgamate_runtime: " + msg)


class Expander:
    """Inlines quoted includes found in the include folders."""

    def __init__(self, dirs, skip):
        self.dirs, self.skip, self.seen_guards, self.files = dirs, skip, set(), []

    def find(self, name, here):
        for d in [here] + self.dirs:
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return os.path.realpath(p)
        return None

    def expand(self, path):
        self.files.append(path)
        text = open(path, encoding="utf-8").read()
        g = GUARD.match(text)
        if g:
            if g.group(1) in self.seen_guards:
                return ""
            self.seen_guards.add(g.group(1))
        here = os.path.dirname(path)

        def repl(m):
            p = self.find(m.group(1), here)
            if p is None:
                return m.group(0)  # a system header spelled with quotes: left to the compiler
            if p in self.skip:
                return "/* " + m.group(0).strip().replace("*/", "* /") + ": above */"
            rel = os.path.basename(p)
            return "/* ---- %s ---- */\n%s\n/* ---- end of %s ---- */" % (rel, self.expand(p).rstrip("\n"), rel)

        return INCLUDE.sub(repl, text)


COND = re.compile(r'^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)$')
COND_TOKEN = re.compile(r'defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)|&&|\|\||!(?!=)|[()]|\w+|\S')


def condition(expr, undef):
    """The value of an #if expression when the names in undef are not defined:
    True, False, or None when it depends on something else. Only defined(),
    numbers, !, && and || are understood around those names."""
    expr = re.sub(r'/\*.*?\*/|//.*', ' ', expr)
    toks = [m.group(0) if not (m.group(1) or m.group(2)) else ("defined", m.group(1) or m.group(2))
            for m in COND_TOKEN.finditer(expr)]
    if not any(isinstance(t, tuple) and t[1] in undef for t in toks):
        return None
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def unary():
        t = peek()
        pos[0] += 1
        if t == "!":
            v = unary()
            return None if v is None else not v
        if t == "(":
            v = disjunction()
            if peek() != ")":
                die("cannot read '#if %s'" % expr.strip())
            pos[0] += 1
            return v
        if isinstance(t, tuple):
            return False if t[1] in undef else None
        if t is not None and re.match(r'^\d+[uUlL]*$', t):
            return int(t.rstrip("uUlL"), 10) != 0  # zero in any base alike
        if t is not None and re.match(r'^[A-Za-z_]\w*$', t):
            return None
        die("cannot decide '#if %s' with %s undefined" % (expr.strip(), ", ".join(sorted(undef))))

    def chain(op, operand, absorbing):
        """Parses operand (op operand)*: && (absorbing False) or || (absorbing True)."""
        def parse():
            v = operand()
            while peek() == op:
                pos[0] += 1
                w = operand()
                v = absorbing if absorbing in (v, w) else (None if None in (v, w) else not absorbing)
            return v
        return parse

    disjunction = chain("||", chain("&&", unary, False), True)

    v = disjunction()
    if pos[0] != len(toks):
        die("cannot decide '#if %s' with %s undefined" % (expr.strip(), ", ".join(sorted(undef))))
    return v


def leave_out(text, undef):
    """The text without the code that the names in undef, left undefined, exclude
    (as unifdef -U does): a conditional decided by them disappears with its dead
    branches, an #elif decided by them goes with its branch (or becomes #else when
    true); every other conditional stays as written."""
    if not undef:
        return text
    # per open conditional: [passes (its directives stay), keeping (the branch's
    # lines stay), settled (a branch known true was taken: the rest is dead)]
    out, stack = [], []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        n = 1
        while COND.match(lines[i]) and lines[i + n - 1].endswith("\\") and i + n < len(lines):
            n += 1
        m = COND.match(" ".join(ln.rstrip("\\") for ln in lines[i:i + n]))
        live = all(g[1] for g in stack)
        keep = live
        if m:
            word, rest = m.group(1), m.group(2)
            if word in ("if", "ifdef", "ifndef"):
                expr = {"if": rest, "ifdef": "defined(%s)" % rest.strip(),
                        "ifndef": "!defined(%s)" % rest.strip()}[word]
                v = condition(expr, undef) if live else None
                stack.append([v is None, v is not False, v is True])
                keep = live and v is None
            elif not stack:
                die("#%s without #if" % word)
            else:
                g = stack[-1]
                outer = all(h[1] for h in stack[:-1])
                v = None if word == "endif" else True if word == "else" else condition(rest, undef) if outer else None
                keep = False
                if word == "endif":
                    keep = outer and g[0]
                    stack.pop()
                elif g[2]:
                    g[1] = False
                elif v is False:
                    g[1] = False
                elif g[0]:  # the group stays: this branch too, as #else when known true
                    g[1], g[2], keep = True, v is True, outer
                    if v is True and word == "elif":
                        keep = False
                        if outer:
                            out.append(lines[i][:lines[i].index("#") + 1] + "else")
                elif v is True:
                    g[1] = g[2] = True
                else:  # every branch before was left out: from here the group is '#if rest'
                    g[0] = g[1] = True
                    if outer:
                        out.append(re.sub(r"#([ \t]*)elif", r"#\1if", lines[i], count=1))
                        out.extend(lines[i + 1:i + n])
        if keep:
            out.extend(lines[i:i + n])
        i += n
    if stack:
        die("#if without #endif")
    return "\n".join(out)


def declarations(text):
    """The declarations at file scope as (start offset, tokens); tokens are (kind, text,
    offset) without spaces, comments and preprocessor lines, up to the ';' or the '{'
    of a function body."""
    toks = [(m.lastgroup, m.group(0), m.start()) for m in TOKEN.finditer(text)
            if m.lastgroup not in ("comment", "space", "pp")]
    out, decl, i = [], [], 0

    def skip_braces(i, keep):
        depth = 0
        while i < len(toks):
            depth += (toks[i][1] == "{") - (toks[i][1] == "}")
            if keep is not None:
                keep.append(toks[i])
            i += 1
            if depth == 0:
                return i
        die("unbalanced braces")

    while i < len(toks):
        t = toks[i][1]
        words = [w for _, w, _ in decl]
        if (t == "{" and words == ["extern", '"C"']) or (t == "}" and not decl):
            decl, i = [], i + 1  # extern "C" { ... } of a header read by C++
            continue
        if t == "{":
            if words and words[-1] == ")" and "=" not in words and words[0] not in ("struct", "union", "enum",
                                                                                   "typedef"):
                out.append(decl)  # a function definition: its body is not a declaration
                decl = []
                i = skip_braces(i, None)
            else:
                i = skip_braces(i, decl)  # a struct body or an initializer
            continue
        decl.append(toks[i])
        i += 1
        if t == ";":
            out.append(decl)
            decl = []
    return [(d[0][2], d) for d in out if d]


def close_paren(toks, i):
    """The index after the ')' that closes the '(' at toks[i]."""
    depth = 0
    while i < len(toks):
        depth += (toks[i][1] == "(") - (toks[i][1] == ")")
        i += 1
        if depth == 0:
            break
    return i


def function_name(toks):
    """The name declared by a function declaration, or None for anything else."""
    i = 0
    while i < len(toks):
        k, t, _ = toks[i]
        if t in ("__attribute__", "__declspec"):
            depth, i = 0, i + 1
            while i < len(toks):
                depth += toks[i][1] == "("
                depth -= toks[i][1] == ")"
                i += 1
                if depth == 0:
                    break
            continue
        if t == "(" and i > 0 and toks[i - 1][0] == "id":
            j = close_paren(toks, i)
            if j < len(toks) and toks[j][1] == "(":
                # a name made by a macro, RT_(convert)(...): its spelling, which
                # the preprocessor turns into a different name per inclusion
                return "".join(t for _, t, _ in toks[i - 1:j])
            return toks[i - 1][1]
        if t in ("=", "["):
            return None
        i += 1
    return None


def declared_name(toks):
    """The name of a file-scope object: the identifier before '=', '[' or ';'."""
    for i, (k, t, _) in enumerate(toks):
        if t in ("=", "[", ";") and i > 0 and toks[i - 1][0] == "id":
            return toks[i - 1][1]
    return None


def skipped(words):
    """Declarations that get no linkage mark: typedefs, storage classes given, and
    struct, union and enum declarations that declare no object."""
    if words[0] == "typedef" or "static" in words or "extern" in words:
        return True
    return words[0] in ("struct", "union", "enum") and (len(words) == 3 or words[-2] == "}")


def defined_functions(decls):
    """The functions defined (with a body) among declarations."""
    return {function_name(toks) for _, toks in decls if toks[-1][1] != ";"} - {None}


def rewrite(text, public, header):
    """Marks the public functions DLOR_RT_API; in the sources (not the header) also
    makes everything else at file scope static. A function the sources declare but
    define nowhere keeps its linkage: it is named only where it is not called (in
    an unevaluated sizeof, as dlor__image_args is without messages)."""
    edits = []
    decls = declarations(text)
    defined = defined_functions(decls)
    for start, toks in decls:
        if skipped([t for _, t, _ in toks]):
            continue
        fn = function_name(toks)
        name = fn or (None if header else declared_name(toks))
        if name is None:
            continue
        if name in public:
            edits.append((start, "DLOR_RT_API "))
        elif not header and (fn is None or fn in defined):
            edits.append((start, "static "))
    for pos, s in sorted(edits, reverse=True):
        text = text[:pos] + s + text[pos:]
    return text


def public_names(text):
    names = set()
    for _, toks in declarations(text):
        if skipped([t for _, t, _ in toks]):
            continue
        n = function_name(toks)
        if n:
            names.add(n)
    return names


API = """#ifndef DLOR_RT_API
#if defined(DLOR_RT_STATIC) && defined(__GNUC__)
#define DLOR_RT_API static __attribute__((unused))
#elif defined(DLOR_RT_STATIC)
#define DLOR_RT_API static
#else
#define DLOR_RT_API extern
#endif
#endif
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True, help="folder for dlor_runtime.h and dlor_runtime.c")
    ap.add_argument("--header", required=True, help="the runtime's public header")
    ap.add_argument("-I", dest="dirs", action="append", default=[], help="an include folder")
    ap.add_argument("-U", dest="undef", action="append", default=[],
                    help="a macro left undefined: the code it would select is left out")
    ap.add_argument("--depfile", help="write the files read, as a make rule for the two outputs")
    ap.add_argument("sources", nargs="+")
    a = ap.parse_args()
    dirs = [os.path.realpath(d) for d in a.dirs if d]
    sources = [os.path.realpath(s) for s in a.sources if s.endswith(".c")]
    if not sources:
        die("no .c sources given")
    header = os.path.realpath(a.header)
    undef = set(a.undef)
    root = os.path.commonpath(sources + [header])

    hx = Expander(dirs, set())
    public_text = leave_out(hx.expand(header), undef)
    public_files = set(hx.files)
    public = public_names(public_text)
    if not public:
        die("%s declares no function" % a.header)
    public_text = rewrite(public_text, public, True)

    cx = Expander(dirs, public_files)
    parts = []
    for src in sources:
        body = cx.expand(src)
        own = [m.group(1) for m in DEFINE.finditer(open(src, encoding="utf-8").read())]
        undefs = "".join("#undef %s\n" % n for n in dict.fromkeys(own) if not n.startswith("_"))
        parts.append("/* ==== %s ==== */\n%s\n%s" % (os.path.relpath(src, root), body.rstrip("\n"), undefs))
    body = rewrite(leave_out("\n".join(parts), undef), public, False)

    # file-scope statics of two sources must not share a name in one translation unit
    seen = set()
    for _, toks in declarations(body):
        words = [t for _, t, _ in toks]
        n = function_name(toks) or declared_name(toks)
        if "static" not in words or words[0] == "typedef" or toks[-1][1] == ";" or not n or "(" in n:
            continue  # not a definition, or a name built by a macro (a body included once per type)
        if n in seen:
            die("'%s' is defined at file scope twice: give one of them another name" % n)
        seen.add(n)

    note = "generated by scripts/amalgamate_runtime.py from %s" % ", ".join(
        os.path.relpath(s, root) for s in sources)
    if undef:
        note += ", without the code for %s" % ", ".join(sorted(undef))
    os.makedirs(a.out, exist_ok=True)
    h = ("/* dlor_runtime.h - dlor's embedded runtime in one header and one source file\n"
         " * (dlor_runtime.c): C99 and the C library, no allocation. Compile dlor_runtime.c\n"
         " * with the program; define DLOR_RT_STATIC before including dlor_runtime.c to keep\n"
         " * a private copy in one translation unit.\n"
         " * %s; do not edit. */\n"
         "#ifndef DLOR_RT_AMALGAMATED_H\n#define DLOR_RT_AMALGAMATED_H\n\n%s\n%s\n#endif\n") % (
        note, API, public_text.rstrip("\n"))
    c = ("/* dlor_runtime.c - dlor's embedded runtime (see dlor_runtime.h).\n"
         " * %s; do not edit. */\n"
         "#include \"dlor_runtime.h\"\n\n%s\n") % (note, body.rstrip("\n"))
    outputs = []
    for name, text in (("dlor_runtime.h", h), ("dlor_runtime.c", c)):
        p = os.path.join(a.out, name)
        tmp = p + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
        outputs.append(p)
    if a.depfile:
        read = sorted(set(hx.files + cx.files))
        with open(a.depfile + ".tmp", "w", encoding="utf-8") as f:
            f.write("%s: %s\n" % (" ".join(o.replace(" ", "\\ ") for o in outputs),
                                  " \\\n  ".join(r.replace(" ", "\\ ") for r in read)))
        os.replace(a.depfile + ".tmp", a.depfile)


if __name__ == "__main__":
    main()
