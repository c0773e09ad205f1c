#!/usr/bin/python3
"""runnode.py: start gate and CPU meter for one benchmark process.

runnode.py [--ready FILE --go FILE] [--cpu-file FILE] [--grace SECS] [--copies P]
           [--ends-file FILE] -- CMD...

With --ready/--go: create READY, wait (polling every 2 ms, no forks; at most 300 s) until GO
exists, so a harness can release many nodes at one moment after their processes exist.
Then run CMD as a child and wait for it.  On SIGTERM/SIGINT pass SIGTERM to CMD, and SIGKILL
after --grace seconds (default 3).  When CMD has exited, write "USER_SECONDS SYSTEM_SECONDS"
of CMD and every descendant it waited for to --cpu-file, and exit with CMD's status.
With --copies P, P copies of CMD start at once (RUNNODE_COPY=1..P in their environment: the
processes of one node); --ends-file gets one line "COPY STATUS WALL_TIME" per copy, the
moment it was reaped; the CPU times are the sum, the exit status the first non-zero one.
"""
import argparse
import os
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready")
    ap.add_argument("--go")
    ap.add_argument("--cpu-file")
    ap.add_argument("--grace", type=float, default=3.0)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--ends-file")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command")

    if args.ready and args.go:
        open(args.ready, "w").close()
        deadline = time.monotonic() + 300
        while not os.path.exists(args.go):
            if time.monotonic() > deadline:
                sys.exit("runnode: %s never appeared" % args.go)
            time.sleep(0.002)

    if os.environ.get("RUNNODE_LOG_START"):
        print("runnode: starting at %.6f" % time.time(), file=sys.stderr, flush=True)
    if not 1 <= args.copies <= 256:
        ap.error("--copies must be 1..256")
    children = {}
    for k in range(1, args.copies + 1):
        child = os.fork()
        if child == 0:
            if args.copies > 1:
                os.environ["RUNNODE_COPY"] = str(k)
            try:
                os.execvp(cmd[0], cmd)
            except OSError as e:
                print("runnode: cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
            os._exit(127)
        children[child] = k

    def signal_all(sig):
        for c in children:
            try:
                os.kill(c, sig)
            except ProcessLookupError:
                pass

    def on_stop(signum, frame):
        signal_all(signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, args.grace)

    def on_alarm(signum, frame):
        signal_all(signal.SIGKILL)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGALRM, on_alarm)
    utime = stime = 0.0
    code, ends = 0, []
    for _ in range(len(children)):
        pid, status, ru = os.wait4(-1, 0)   # retried across signal handlers (PEP 475)
        t = time.time()
        utime += ru.ru_utime
        stime += ru.ru_stime
        c = os.waitstatus_to_exitcode(status)
        c = c if c >= 0 else 128 - c
        ends.append("%d %d %.6f\n" % (children.pop(pid), c, t))
        if c and not code:
            code = c
    if args.ends_file:
        with open(args.ends_file + ".tmp", "w") as f:   # complete when it appears
            f.writelines(ends)
        os.replace(args.ends_file + ".tmp", args.ends_file)
    if args.cpu_file:
        with open(args.cpu_file, "w") as f:
            f.write("%.3f %.3f\n" % (utime, stime))
    return code


if __name__ == "__main__":
    sys.exit(main())
