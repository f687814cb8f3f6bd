#!/usr/bin/env python3
# CPU seconds per kind of process while a command runs (Linux /proc, sampled every second;
# a process that lives less than a second may be missed), and the busy CPU time of the whole
# machine over the same span. Measurement aid for BENCHMARKS.md, not part of `make test`.
#
#   scripts/cpu-by-process.py OUT.json -- COMMAND [ARGS...]
import json, os, subprocess, sys, time
out = sys.argv[1]; cmd = sys.argv[sys.argv.index('--')+1:]
HZ = os.sysconf('SC_CLK_TCK')
def stat():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)
seen = {}
def sample():
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            with open(f'/proc/{p}/stat') as f: s = f.read()
            with open(f'/proc/{p}/cmdline','rb') as f: a = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError: continue
        r = s.rsplit(')', 1)[1].split()
        cpu = (int(r[11]) + int(r[12])) / HZ
        key = (p, r[19])  # pid, starttime
        seen[key] = (cpu, a or s.split('(')[1].split(')')[0])
b0, t0 = stat(); w0 = time.time()
sample()
base = dict(seen)
proc = subprocess.Popen(cmd)
while proc.poll() is None:
    time.sleep(1); sample()
sample()
b1, t1 = stat()
cats = {}
def cat(a):
    if "kafka.Kafka" in a or "KafkaDockerWrapper" in a: return "broker-jvm"
    if "java" in a and ("StorageTool" in a or "kafka-storage" in a): return "format-jvm"
    if 'java' in a: return 'other-jvm'
    if 'kafka-chaos' in a: return 'harness'
    if 'python' in a: return 'python'
    if any(x in a for x in ('podman','conmon','crun','runc','slirp','pasta','netavark','aardvark','catatonit','fuse-overlayfs')): return 'podman'
    if 'lazyfs' in a: return 'lazyfs'
    return 'other:' + a.split(' ')[0][-30:]
for k, (cpu, a) in seen.items():
    d = cpu - base.get(k, (0,))[0]
    if d <= 0: continue
    c = cat(a); cats[c] = cats.get(c, 0) + d
res = {'wall_s': time.time()-w0, 'busy_cpu_s': (b1-b0)/HZ, 'rc': proc.returncode,
       'by_category': dict(sorted(cats.items(), key=lambda x: -x[1]))}
json.dump(res, open(out,'w'), indent=1); print(json.dumps(res, indent=1))
