#!/usr/bin/python3
"""Memory, CPU and descriptors of processes, from /proc (bench/gateway.sh).

  pstat.py PID...   -> "RSS_KiB CPU_SECONDS FDS THREADS"
      VmRSS, utime+stime (every thread of the process), open descriptors and
      threads, each summed over the given PIDs; a PID that is gone counts 0.
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def one(pid):
    rss = threads = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        v = st[st.rindex(")") + 2:].split()
        cpu = (int(v[11]) + int(v[12])) / TICK  # utime, stime: fields 14 and 15
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, ValueError):
        return 0, 0.0, 0, 0
    return rss, cpu, fds, threads


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    tot = [0, 0.0, 0, 0]
    for a in argv[1:]:
        for i, x in enumerate(one(int(a))):
            tot[i] += x
    print("%d %.2f %d %d" % tuple(tot))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
