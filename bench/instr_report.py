#!/usr/bin/env python3
"""bench/instr_report.py — run tk-instr-paths under cachegrind and report
instructions per call for every dispatch path.

usage: instr_report.py BINARY N OUT.json
For each path: Ir(run with N calls) - Ir(run with 0 calls), divided by N.
The loop overhead (slot load, add, refill test) is included in every path;
compare against `direct` and `slot_entry`."""
import json, os, re, subprocess, sys, tempfile, time

def total_ir(binary, path, n):
    with tempfile.NamedTemporaryFile(prefix="tk-cg-", delete=False) as f:
        out = f.name
    try:
        subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        "--cachegrind-out-file=" + out, binary, path, str(n)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as fh:
            for line in fh:
                m = re.match(r"summary:\s+(\d+)", line)
                if m:
                    return int(m.group(1))
    finally:
        os.unlink(out)
    raise RuntimeError("no cachegrind summary for " + path)

def main():
    binary, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    paths = subprocess.run([binary, "--list"], check=True, capture_output=True,
                           text=True).stdout.split()
    rows = []
    for p in paths:
        base = total_ir(binary, p, 0)
        full = total_ir(binary, p, n)
        rows.append({"path": p, "calls": n, "ir_baseline": base, "ir_total": full,
                     "instructions_per_call": round((full - base) / n, 3)})
    print("%-34s %14s" % ("path", "instr/call"))
    for r in rows:
        print("%-34s %14.2f" % (r["path"], r["instructions_per_call"]))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    doc = {"schema_version": 1, "tool": "valgrind --tool=cachegrind --cache-sim=no",
           "binary": binary, "calls_per_path": n,
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "note": "(Ir(N calls) - Ir(0 calls)) / N; includes the driver loop "
                   "(slot load, add, refill check)",
           "paths": rows}
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print("wrote " + out)

if __name__ == "__main__":
    main()
