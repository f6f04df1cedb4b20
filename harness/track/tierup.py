"""The runtime's own cost of a tier-up, per tiered method, from tk-tierup
(bench/tierup.c: N methods driven through the driver ABI from their first
call to their final tier, deterministic mode) under valgrind.  Used by
`make bench-tierup` (bench/tierup_report.py) and by tk-track's `tk-tierup`
runner, so both print the same figure.  Only runs binaries and reads their
output.

  runtime instructions: cachegrind, per function, Ir of a run of R rounds
      (the rounds tk-tierup needs natively) minus Ir of a set-up-only run
      (--rounds 0), summed over every function except tk-tierup's own code
      (bench/tierup.c: the call loop and the method bodies) and code without
      a symbol (the generated stubs and method entries, which `make
      bench-instr` measures): the runtime's handlers, background work,
      backpatching, allocation, locks and what they call in libc, ld.so and
      liburcu.  Lock instructions: the pthread mutex functions and the
      runtime's lock wrappers among them.
  lock acquisitions: callgrind with instrumentation only between
      tk-tierup's CALLGRIND_START/STOP_INSTRUMENTATION (the rounds and the
      final drain; set-up and teardown run uninstrumented): calls to
      pthread_mutex_lock / trylock.  Callgrind's cost grows faster than
      linearly with the number of generated code addresses (7.6 s for 3,000
      methods, 53 s for 10,000), so it is for small sizes.
  counting memory: (counting_stub_bytes + counting_info_bytes) /
      methods_counted from the runtime's counters after the final drain
      (a stub deletion that became due has run), native run.

Every figure is exact: the runs are deterministic (manual clock, background
work drained on the calling thread)."""

import json
import os
import re
import subprocess
import tempfile

LOCK_FN = re.compile(r"(^|[^a-z])(pthread_mutex_(lock|unlock|trylock)|__pthread_mutex_(lock|unlock)"
                     r"(_full|_usercnt)?|lll_lock_wait|__lll_lock_wait|__lll_lock_wake|"
                     r"tkr_lock|tkr_unlock|tkr_bp_lock|tkr_bp_unlock|lock_rank_check|__tls_get_addr|"
                     r"update_get_addr)")
# An acquisition: a call to one of these (glibc's versioned names included).
ACQUIRE_FN = re.compile(r"^(__)?pthread_mutex_(lock|trylock)(@.*)?$")
BENCH_FILE = "bench/tierup.c"


class TierupError(Exception):
    """tk-tierup or valgrind failed, or their output is unreadable."""


def _run(cmd, what, timeout):
    """timeout: seconds, or None (make bench-tierup: 300,000 methods under
    cachegrind took more than an hour on a loaded 2-core host)."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TierupError("%s timed out after %d s: %s" % (what, timeout, " ".join(cmd)))
    except OSError as e:
        raise TierupError("cannot run %s: %s" % (cmd[0], e.strerror))
    if r.returncode != 0:
        raise TierupError("%s failed (exit %d): %s\n%s" % (what, r.returncode, " ".join(cmd),
                                                          "\n".join(r.stderr.strip().splitlines()[-8:])))
    return r


def base_command(binary, impl, strategy=None, methods=None, config=(), args=()):
    cmd = [binary, "--impl", impl]
    if strategy:
        cmd += ["--strategy", strategy]
    if methods:
        cmd += ["--methods", str(methods)]
    for kv in config:
        cmd += ["--config", kv]
    return cmd + list(args)


def native(cmd, timeout=None):
    """tk-tierup's JSON document of a native run (finds the rounds)."""
    r = _run(cmd, "tk-tierup", timeout)
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise TierupError("tk-tierup wrote invalid JSON (%s): %s" % (e, " ".join(cmd)))


def cachegrind(cmd, timeout=None):
    """{(file, function): Ir} of one run under cachegrind."""
    fd, out = tempfile.mkstemp(prefix="tk-tierup-cg-")
    os.close(fd)
    try:
        _run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=" + out] + cmd,
             "tk-tierup under cachegrind", timeout)
        costs, fl, fn = {}, "", ""
        with open(out) as fh:
            for line in fh:
                if line.startswith("fl="):
                    fl = line[3:].strip()
                elif line.startswith("fn="):
                    fn = line[3:].strip()
                elif line[:1].isdigit():
                    parts = line.split()
                    if len(parts) >= 2:
                        costs[(fl, fn)] = costs.get((fl, fn), 0) + int(parts[1])
        return costs
    finally:
        os.unlink(out)


def callgrind_acquisitions(cmd, timeout=None):
    """Calls to pthread_mutex_lock/trylock while tk-tierup has callgrind's
    instrumentation on."""
    fd, out = tempfile.mkstemp(prefix="tk-tierup-clg-")
    os.close(fd)
    try:
        _run(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--compress-strings=no",
              "--compress-pos=no", "--callgrind-out-file=" + out] + cmd, "tk-tierup under callgrind", timeout)
        calls, target = 0, None
        with open(out) as fh:
            for line in fh:
                if line.startswith("cfn="):
                    target = line[4:].strip()
                elif line.startswith("calls=") and target is not None:
                    if ACQUIRE_FN.match(target):
                        calls += int(line[6:].split()[0])
                    target = None
        return calls
    finally:
        for f in (out, out + ".1"):
            if os.path.exists(f):
                os.unlink(f)


def split(a, b):
    """Per-function differences of two cachegrind runs, attributed:
    (runtime, locks, bench, generated, {function: runtime Ir})."""
    runtime = locks = bench = generated = 0
    fns = {}
    for key in set(a) | set(b):
        d = a.get(key, 0) - b.get(key, 0)
        fl, fn = key
        if fl.endswith(BENCH_FILE):
            bench += d
        elif fl == "???" and (fn.startswith("0x") or fn == "???"):
            generated += d
        else:
            runtime += d
            if d:
                fns[fn] = fns.get(fn, 0) + d
            if LOCK_FN.search(fn):
                locks += d
    return runtime, locks, bench, generated, fns


def counting_bytes(counters):
    """Counting stubs + counting infos per counted method (None when no
    method was counted)."""
    m = counters.get("methods_counted", 0)
    if not m:
        return None
    return (counters.get("counting_stub_bytes", 0) + counters.get("counting_info_bytes", 0)) / m


def measure(cmd, instructions=True, acquisitions=False, timeout=None):
    """Measures the tk-tierup command `cmd` (binary, --impl, options; no
    --rounds/--no-destroy/--json).  Returns a dict: methods, rounds, calls,
    config, counters (after the final drain), counting_bytes_per_counted_method,
    and if asked runtime_instructions(_per_method), lock_instructions_per_method,
    lock_share, generated_code/driver_loop_instructions_per_method,
    functions (runtime Ir per function), lock_acquisitions(_per_method)."""
    doc = native(cmd, timeout)
    m = doc["methods"]
    if doc.get("methods_not_final"):
        raise TierupError("%d of %d methods did not reach their final tier: %s"
                          % (doc["methods_not_final"], m, " ".join(cmd)))
    settled = doc.get("counters_settled") or {}
    out = {"methods": m, "rounds": doc["rounds"], "calls": doc["calls"], "config": doc.get("config"),
           "implementation": doc.get("implementation"), "counters": settled,
           "counting_bytes_per_counted_method": counting_bytes(settled)}
    fixed = cmd + ["--rounds", str(doc["rounds"]), "--no-destroy"]
    if instructions:
        a = cachegrind(fixed, timeout)
        b = cachegrind(cmd + ["--rounds", "0", "--no-destroy"], timeout)
        runtime, locks, bench, generated, fns = split(a, b)
        out.update(runtime_instructions=runtime,
                   runtime_instructions_per_method=round(runtime / m, 1),
                   lock_instructions_per_method=round(locks / m, 1),
                   lock_share=round(locks / runtime, 4) if runtime else 0.0,
                   generated_code_instructions_per_method=round(generated / m, 1),
                   driver_loop_instructions_per_method=round(bench / m, 1),
                   functions=fns)
    if acquisitions:
        n = callgrind_acquisitions(fixed, timeout)
        out.update(lock_acquisitions=n, lock_acquisitions_per_method=round(n / m, 2))
    return out
