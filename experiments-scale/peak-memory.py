#!/usr/bin/env python3
"""Peak memory of one harness run, phase by phase (see BENCHMARKS.md).

Runs a kafka-chaos command (by default the 1,000,000-record async experiment
on the process backend), samples the harness process's VmRSS every 10 ms,
and prints the highest resident memory seen in each phase the console
announces, and the process's VmHWM (its exact peak) at the end.

Only the harness process is measured: `/usr/bin/time -v` would report the
largest of the harness and its reaped children, which is the broker JVM.

    experiments-scale/peak-memory.py
    experiments-scale/peak-memory.py target/release/kafka-chaos experiment sync
"""
import subprocess
import sys
import threading
import time

DEFAULT = [
    "target/release/kafka-chaos",
    "experiment",
    "experiments-scale/async-1m.toml",
    "--backend",
    "process",
]


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def main():
    cmd = sys.argv[1:] or DEFAULT
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1)
    phase = ["start"]
    order = ["start"]

    def read_stderr():
        for line in proc.stderr:
            sys.stderr.write(f"[{time.monotonic() - t0:7.2f}s] {line}")
            text = line.strip()
            if text:
                phase[0] = text[:48]
                order.append(phase[0])

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    peak = {}
    hwm = 0
    while proc.poll() is None:
        s = status(proc.pid)
        if "VmRSS" in s:
            p = phase[0]
            peak[p] = max(peak.get(p, 0), s["VmRSS"])
            hwm = max(hwm, s.get("VmHWM", 0))
        time.sleep(0.01)
    reader.join(timeout=2)
    wall = time.monotonic() - t0
    print(f"command: {' '.join(cmd)}")
    print(f"exit status {proc.returncode}, wall {wall:.1f} s")
    print(f"harness VmHWM (peak resident memory): {hwm / 1024:.1f} MiB")
    print("highest VmRSS sampled (every 10 ms) while the console showed:")
    for p in order:
        if p in peak:
            print(f"  {peak[p] / 1024:8.1f} MiB  {p}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
