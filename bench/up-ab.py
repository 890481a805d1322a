#!/usr/bin/env python3
"""`hb up -d` of a three-service chain (db <- api <- web, busybox `sleep`),
timed for two or more hb builds side by side: each round runs every build's
`up -d` (timed) and `down` (not timed), in a new order each round (seeded);
medians and minima of RUNS rounds after two warm-up rounds.

Needs root, crun and the test fixtures' busybox (tests/fixtures/images.sh
build); makes its own HB_ROOT under /var/tmp and imports the image there.
Usage: bench/up-ab.py RUNS HB [HB...]      e.g. bench/up-ab.py 15 NEW/hb OLD/hb"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

COMPOSE = """services:
  db:
    image: localhost/bench/busybox:1
    command: ["sleep", "300"]
    stop_signal: SIGKILL
  api:
    image: localhost/bench/busybox:1
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on: [db]
  web:
    image: localhost/bench/busybox:1
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on: [api]
"""


def main():
    runs, builds = int(sys.argv[1]), sys.argv[2:]
    cache = os.environ.get("HB_TEST_CACHE", "/var/cache/hb-test")
    work = tempfile.mkdtemp(prefix="hb-bench-up.", dir="/var/tmp")
    env = dict(os.environ, HB_ROOT=f"{work}/root", HB_RUN=f"{work}/run")
    quiet = dict(env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["skopeo", "copy", "-q", f"oci:{cache}/oci:busybox",
                        f"oci:{work}/layout:busybox"], check=True)
        subprocess.run([builds[0], "image", "import", "--name",
                        "localhost/bench/busybox:1", f"{work}/layout"], **quiet)
        project = f"{work}/chain"
        os.makedirs(project)
        with open(f"{project}/compose.yaml", "w") as f:
            f.write(COMPOSE)
        took = {b: [] for b in builds}
        order = builds[:]
        random.seed(7)
        for r in range(runs + 2):
            random.shuffle(order)
            for b in order:
                start = time.perf_counter()
                subprocess.run([b, "up", "-d"], cwd=project, **quiet)
                ms = (time.perf_counter() - start) * 1000
                subprocess.run([b, "down"], cwd=project, **quiet)
                if r >= 2:
                    took[b].append(ms)
        for b in builds:
            print(f"{statistics.median(took[b]):8.1f} ms median {min(took[b]):8.1f} ms min  {b} up -d")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
