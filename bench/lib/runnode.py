#!/usr/bin/python3
"""runnode.py: start gate and CPU meter for one benchmark process.

runnode.py [--ready FILE --go FILE] [--cpu-file FILE] [--grace SECS] -- CMD...

With --ready/--go: create READY, wait (polling every 2 ms, no forks; at most 300 s) until GO
exists, so a harness can release many nodes at one moment after their processes exist.
Then run CMD as a child and wait for it.  On SIGTERM/SIGINT pass SIGTERM to CMD, and SIGKILL
after --grace seconds (default 3).  When CMD has exited, write "USER_SECONDS SYSTEM_SECONDS"
of CMD and every descendant it waited for to --cpu-file, and exit with CMD's status.
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
    child = os.fork()
    if child == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print("runnode: cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
        os._exit(127)

    def on_stop(signum, frame):
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass
        signal.setitimer(signal.ITIMER_REAL, args.grace)

    def on_alarm(signum, frame):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGALRM, on_alarm)
    _, status, ru = os.wait4(child, 0)   # retried across signal handlers (PEP 475)
    if args.cpu_file:
        with open(args.cpu_file, "w") as f:
            f.write("%.3f %.3f\n" % (ru.ru_utime, ru.ru_stime))
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
