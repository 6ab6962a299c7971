#!/usr/bin/python3
"""Memory and CPU of a process and its descendants, from /proc.

  procstat.py mem PID   -> "RSS_KiB PSS_KiB PROCESSES"
      VmRSS and Pss (smaps_rollup) summed over PID and every live descendant.
      For a forking server (socat fork) the RSS sum counts the shared pages
      (libc, the binary) once per process; the PSS sum splits them.
  procstat.py cpu PID   -> "SECONDS"
      user+system time of PID and its live descendants, plus what they
      reaped from their exited children (cutime+cstime), all threads included.
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem(pid):
    procs = tree(pid)
    rss = sum(field("/proc/%d/status" % p, "VmRSS") for p in procs)
    pss = sum(field("/proc/%d/smaps_rollup" % p, "Pss") for p in procs)
    return "%d %d %d" % (rss, pss, len(procs))


def cpu(pid):
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        v = st[st.rindex(")") + 2:].split()
        # fields 14..17 of stat (utime stime cutime cstime) are v[11..14] here
        total += sum(int(x) for x in v[11:15])
    return "%.3f" % (total / TICK)


def main(argv):
    if len(argv) == 3 and argv[1] in ("mem", "cpu"):
        print(mem(int(argv[2])) if argv[1] == "mem" else cpu(int(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
