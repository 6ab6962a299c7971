"""Pieces shared by the bench/ reports: meta.env, number formats, and putting
one "## " section into doc/benchmarks.md without touching the others.

bench/lib.sh puts bench/ on PYTHONPATH, so the scripts' reports import this.
"""
import os

PREAMBLE = """# Benchmarks

Each section is written by one script in `bench/`, from one run, and names the
machine it ran on. Everything runs on loopback on one machine: the load
generator, the backend and the program measured share the same cores (two on
the project's machines, shared with other work), so absolute numbers say more
about the machine than about the programs. Compare the ratios, which come from
the same run.
"""


def load_meta(path):
    """meta.env (KEY=VALUE lines, written by the script) as a dict."""
    meta = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                meta[k] = v
    return meta


def fmt(v, digits=2):
    """n/a for None; thousands with separators and no decimals; else DIGITS decimals."""
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "%.*f" % (digits, v)


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "n/a"


def splice(doc_path, heading, section, preamble=False):
    """Replace DOC's section, from the line HEADING to the next "## ", by
    SECTION (appended if absent); every other section stays as it is. With
    PREAMBLE, a file without an introduction gets the shared one first."""
    text = open(doc_path).read() if os.path.exists(doc_path) else ""
    if preamble:
        first = text.find("\n## ")
        head = text if first < 0 else text[:first + 1]
        if head.strip() in ("", "# Benchmarks"):
            text = PREAMBLE + ("" if first < 0 else "\n" + text[first + 1:])
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == heading), None)
    if start is None:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "# Benchmarks\n\n") + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    os.makedirs(os.path.dirname(os.path.abspath(doc_path)), exist_ok=True)
    with open(doc_path + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc_path + ".tmp", doc_path)
