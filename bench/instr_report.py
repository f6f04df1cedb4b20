#!/usr/bin/env python3
"""bench/instr_report.py — run tk-instr-paths under cachegrind and report
instructions per call for every dispatch path.

usage: instr_report.py BINARY N OUT.json [--check]
For each path: Ir(run with N calls) - Ir(run with 0 calls), divided by N.
The loop overhead (slot load, add, refill test) is included in every path;
compare against `direct` and `slot_entry`.

--check turns the table into a test (the deterministic CI signal: valgrind
counts instructions, not time).  Each stub on a path must add exactly the
instructions its template executes, as SPEC.md's byte tables list them
(`stub.code-immutable`: what is documented is what runs):
  x86-64  FixupPrecode 1 (jmp), StubPrecode 2 (mov r10; jmp),
          CallCountingStub 4 (mov rax; dec; je; jmp)
  arm64   FixupPrecode 2 (ldr; br), StubPrecode 3 (ldr; ldr; br),
          CallCountingStub 7 (ldr; ldrh; subs; strh; b.eq; ldr; br)
the emitted method entry adds its 8 instructions over `fnptr_table` (a plain
function-pointer table calling compiled code doing the same work: the limit
for any dispatch through a slot), and a slot call must cost more than a
direct call.  The table's last column is each path's distance to that limit.  Prints one PASS/FAIL line
per check and "N passed, N failed"."""
import platform
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

STUB_INSTRS = {
    "x86_64": {"fixup": 1, "stubprecode": 2, "callcount": 4, "entry": 8},
    "aarch64": {"fixup": 2, "stubprecode": 3, "callcount": 7, "entry": 8},
}

def checks(per_call, arch):
    """(name, ok, detail) for every structural property of the paths."""
    k = STUB_INSTRS[arch]
    d = lambda a, b: per_call[a] - per_call[b]
    exact = [
        ("emitted entry adds %d over a plain function-pointer table" % k["entry"],
         d("slot_entry", "fnptr_table"), k["entry"]),
        ("fixup precode adds %d" % k["fixup"], d("slot_fixupprecode_entry", "slot_entry"), k["fixup"]),
        ("stub precode adds %d" % k["stubprecode"], d("slot_stubprecode_entry", "slot_entry"), k["stubprecode"]),
        ("counting stub behind the temporary entry point adds %d" % k["callcount"],
         d("slot_tep_fixupprecode_callcount_entry", "slot_fixupprecode_entry"), k["callcount"]),
        ("counting stub behind a forwarder adds %d" % k["callcount"],
         d("slot_forwarder_fixupprecode_callcount_entry", "slot_fixupprecode_entry"), k["callcount"]),
    ]
    out = [(name, abs(got - want) < 0.01, "measured %+.2f" % got) for name, got, want in exact]
    out.append(("a slot call costs more than a direct call", d("slot_entry", "direct") > 0,
                "measured %+.2f" % d("slot_entry", "direct")))
    return out

def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    check = "--check" in sys.argv[1:]
    binary, n, out = args[0], int(args[1]), args[2]
    paths = subprocess.run([binary, "--list"], check=True, capture_output=True,
                           text=True).stdout.split()
    rows = []
    for p in paths:
        base = total_ir(binary, p, 0)
        full = total_ir(binary, p, n)
        rows.append({"path": p, "calls": n, "ir_baseline": base, "ir_total": full,
                     "instructions_per_call": round((full - base) / n, 3)})
    limit = next((r["instructions_per_call"] for r in rows if r["path"] == "fnptr_table"), None)
    for r in rows:
        if limit is not None:
            r["distance_to_fnptr_table"] = round(r["instructions_per_call"] - limit, 3)
    print("%-44s %11s %18s" % ("path", "instr/call", "vs fnptr_table"))
    for r in rows:
        print("%-44s %11.2f %+18.2f" % (r["path"], r["instructions_per_call"],
                                         r.get("distance_to_fnptr_table", float("nan"))))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    doc = {"schema_version": 1, "tool": "valgrind --tool=cachegrind --cache-sim=no",
           "binary": binary, "calls_per_path": n,
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "note": "(Ir(N calls) - Ir(0 calls)) / N; includes the driver loop "
                   "(slot load, add, refill check); distance_to_fnptr_table is the "
                   "path's cost above a plain function-pointer table (the limit)",
           "paths": rows}
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print("wrote " + out)
    if check:
        arch = platform.machine()
        if arch not in STUB_INSTRS:
            print("instr_report.py: no stub instruction table for %s" % arch, file=sys.stderr)
            sys.exit(2)
        per_call = {r["path"]: r["instructions_per_call"] for r in rows}
        results = checks(per_call, arch)
        for name, ok, detail in results:
            print("%s %s (%s)" % ("PASS" if ok else "FAIL", name, detail))
        failed = sum(1 for _, ok, _ in results if not ok)
        print("%d passed, %d failed" % (len(results) - failed, failed))
        sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
