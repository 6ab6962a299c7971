#!/usr/bin/env python3
"""Run every YAML block of GOST's documentation through `portway -t` and count the outcomes.

    scripts/gost_docs_check.py DOCS_DIR [--portway build/src/portway] [--list KIND]

DOCS_DIR is a checkout of the go-gost/docs repository (its English pages, en/docs, are read;
the docs are not part of portway and are not committed here). Each ```yaml fenced block, with
its indentation removed, is written to a temporary file and checked with `portway -C FILE -t`.
Outcomes:
  pass          exit 0 and nothing on stderr
  warn          exit 0 with a warning
  type          exit 2 because a type portway lacks is named (unknown listener/handler/...)
  key           exit 2 on another key portway refuses or does not know
  yaml          exit 2 on a block that is not a configuration (a fragment, an API body)
The summary gives the count of each, then the most common reasons per outcome.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(\s*)```\s*yaml\b.*$")


def yaml_blocks(path):
    """(line number, text) of each ```yaml block in a markdown file, dedented."""
    # The pages indent with tabs and spaces mixed; Markdown counts a tab as four columns.
    lines = [l.expandtabs(4) for l in open(path, encoding="utf-8").read().split("\n")]
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start, body = len(m.group(1)), i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        yield start, "\n".join(body) + "\n"


def reason_of(line):
    """The message without the log prefix, the file name and its line:column."""
    return re.sub(r"^.*?block\.yaml:\d+(:\d+)?: ", "", line)


def classify(rc, err):
    lines = [l for l in err.strip().split("\n") if l.strip()]
    if rc == 0:
        return ("warn", reason_of(lines[0])) if lines else ("pass", "")
    errors = [l for l in lines if "error" in l] or lines or ["exit %d" % rc]
    reason = reason_of(errors[0])
    if re.search(r"unknown (listener|handler|connector|dialer|type)", reason):
        return "type", reason
    if re.search(r"top level must be a mapping|no services|found character|found a tab|mapping values are not allowed|"
                 r"did not find expected|one YAML document", reason):
        return "yaml", reason
    return "key", reason


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("docs")
    ap.add_argument("--portway", default=os.path.join(os.path.dirname(__file__), "..", "build", "src", "portway"))
    ap.add_argument("--list", help="print every block of this outcome with its reason")
    args = ap.parse_args()
    root = os.path.join(args.docs, "en", "docs")
    if not os.path.isdir(root):
        root = args.docs
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for dirpath, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                if not name.endswith(".md"):
                    continue
                md = os.path.join(dirpath, name)
                for line, text in yaml_blocks(md):
                    f = os.path.join(tmp, "block.yaml")
                    with open(f, "w") as out:
                        out.write(text)
                    p = subprocess.run([args.portway, "-C", f, "-t"], capture_output=True, text=True, timeout=20)
                    kind, reason = classify(p.returncode, p.stderr)
                    results.append((os.path.relpath(md, root), line, kind, reason))
    counts = collections.Counter(r[2] for r in results)
    print("%d blocks: " % len(results) + ", ".join("%s %d" % (k, counts.get(k, 0)) for k in ("pass", "warn", "type", "key", "yaml")))
    for kind in ("warn", "type", "key", "yaml"):
        reasons = collections.Counter(re.sub(r"'[^']*'|\"[^\"]*\"", "…", r[3])[:110] for r in results if r[2] == kind)
        if reasons:
            print("\n%s, most common:" % kind)
            for reason, n in reasons.most_common(12):
                print("  %4d  %s" % (n, reason))
    if args.list:
        print()
        for md, line, kind, reason in results:
            if kind == args.list:
                print("%s:%d: %s" % (md, line, reason))
    return 0


if __name__ == "__main__":
    sys.exit(main())
