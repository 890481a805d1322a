#!/usr/bin/env python3
"""Times commands side by side, interleaved: round after round, each command
once (in a new order each round), so that a machine whose speed drifts (this VM's does, by a third between
minutes, and a network namespace's teardown keeps the kernel busy for seconds)
slows every command alike. hyperfine runs one command's rounds, then the next's.

Usage: interleave.py RUNS WARMUP CMD...   (each CMD one shell-free string)
Prints, per command, the median and the minimum in ms, then the first
command's median against each other command's."""

import os
import random
import shlex
import statistics
import sys
import time


def once(argv):
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        start = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 1),
        ])
        _, status = os.waitpid(pid, 0)
        took = time.perf_counter() - start
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({status}): {shlex.join(argv)}")
    return took


def main():
    runs, warmup, cmds = int(sys.argv[1]), int(sys.argv[2]), [shlex.split(c) for c in sys.argv[3:]]
    times = [[] for _ in cmds]
    # Each round in a new order: what a command leaves running when it returns
    # (podman's `container cleanup`, dockerd's, a namespace's teardown) slows
    # whichever runs next, so that is no one command in particular.
    rng = random.Random(1)
    order = list(range(len(cmds)))
    for round_ in range(warmup + runs):
        rng.shuffle(order)
        for i in order:
            t = once(cmds[i])
            if round_ >= warmup:
                times[i].append(t)
    medians = [statistics.median(t) * 1000 for t in times]
    for argv, t, m in zip(cmds, times, medians):
        print(f"{m:8.2f} ms median {min(t) * 1000:8.2f} ms min  {shlex.join(argv)}")
    first = os.path.basename(cmds[0][0])
    for argv, m in zip(cmds[1:], medians[1:]):
        print(f"ratio {medians[0] / m:.2f}  {first} / {os.path.basename(argv[0])}")


if __name__ == "__main__":
    main()
