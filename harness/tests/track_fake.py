"""A stand-in tk-bench for tk-track's tests: a small Python program that
writes tk-bench-shaped JSON whose values come from constants in its own
text (so a commit can plant a regression) and the environment
(TRACK_FAKE_NS: ns_per_call centre, for noisy-metric tests)."""

import os
import stat

FAKE = r'''#!/usr/bin/python3
import json, os, random, sys
STUB_BYTES = %(stub_bytes)d
SLOT_WRITES = %(slot_writes)d
args = sys.argv[1:]
out = args[args.index("--json") + 1]
ns = float(os.environ.get("TRACK_FAKE_NS", "100")) * random.uniform(0.98, 1.02)
extra = 0
for i, a in enumerate(args):
    if a == "--set" and args[i + 1].startswith("stub_extra="):
        extra = int(args[i + 1].split("=")[1])
    if a == "--set" and args[i + 1].startswith("ns_factor="):
        ns *= float(args[i + 1].split("=")[1])
doc = {"schema_version": 1, "tool": "tk-bench", "git_revision": "fake",
       "implementation": {"name": "fake", "version": "1"},
       "workload": {"name": args[0], "mode": "deterministic", "fingerprint": "f", "seed": 1},
       "strategies": {"lazy": {"config": {"Strategy": "lazy"}, "ns_per_call": ns,
                               "live_stub_bytes": STUB_BYTES + extra, "bytes_per_counted_method": 100,
                               "counters": {"slot_writes": {"nonfinal": SLOT_WRITES + extra, "final": 0},
                                            "calls_counted": {"nonfinal": 30, "final": 0}}}}}
json.dump(doc, open(out, "w"))
'''

SUITE = '''schema_version = 1
name = "fake"
reps = %(reps)d
[thresholds]
exact_pct = 0.5
noisy_pct = 5.0
alpha = 0.01
[[benchmark]]
name = "fake-bench"
runner = "tk-bench"
args = ["steady-state", "--deterministic"]
metrics = [%(metrics)s]
'''


def fake_text(stub_bytes=1000, slot_writes=10):
    return FAKE % {"stub_bytes": stub_bytes, "slot_writes": slot_writes}


def write_fake(bin_dir, **kw):
    os.makedirs(bin_dir, exist_ok=True)
    p = os.path.join(bin_dir, "tk-bench")
    with open(p, "w") as f:
        f.write(fake_text(**kw))
    os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def write_suite(path, reps=5, metrics=("live_stub_bytes", "ns_per_call")):
    with open(path, "w") as f:
        f.write(SUITE % {"reps": reps, "metrics": ", ".join('"%s"' % m for m in metrics)})
    return path
