"""Measuring: runs a suite's benchmarks against one or more builds (sides)
and collects raw samples.  Repetitions interleave benchmarks and sides
(A B C / base head, then head base in the next round) so that drift of a
shared machine hits everything alike.  Only runs binaries and reads their
JSON/output: tk-bench, valgrind --tool=cachegrind, hyperfine, tk-tierup
(through tierup.py, under cachegrind and callgrind)."""

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from . import suite as S
from . import tierup as T


class MeasureError(Exception):
    """A benchmark could not be measured (exit status 2: infrastructure)."""


class Side:
    """One build to measure: its bin directory, the revision it was built
    from, and extra tk-bench arguments (an injected regression, used by the
    calibration: e.g. ["--set", "tier1_cost=1.05"])."""

    def __init__(self, label, bin_dir, revision, dirty=False, extra_args=(), impl=None):
        self.label = label
        self.bin_dir = os.path.abspath(bin_dir)
        self.revision = revision
        self.dirty = dirty
        self.extra_args = list(extra_args)
        self.impl = impl

    def tk_bench(self):
        return os.path.join(self.bin_dir, "tk-bench")

    def tk_tierup(self):
        return os.path.join(self.bin_dir, "tk-tierup")

    def tierup_impl(self):
        """The side's --impl, else the reference driver beside its bin/."""
        return self.impl or os.path.join(os.path.dirname(self.bin_dir), "lib", "libtk_ref_driver.so")


def check_tools(suite, sides):
    """Names the missing program before anything runs."""
    runners = {b["runner"] for b in suite["benchmarks"]}
    for side in sides:
        tb = side.tk_bench()
        if not (os.path.isfile(tb) and os.access(tb, os.X_OK)):
            raise MeasureError("%s build: %s not found or not executable (build it with `make native`)"
                               % (side.label, tb))
        if side.impl and not os.path.isfile(side.impl):
            raise MeasureError("%s: implementation %s not found" % (side.label, side.impl))
        if "tk-tierup" in runners:
            for path, what in ((side.tk_tierup(), "build it with `make native`"),
                               (side.tierup_impl(), "the tk-tierup runner's driver")):
                if not os.path.isfile(path):
                    raise MeasureError("%s build: %s not found (%s)" % (side.label, path, what))
    for prog, runner in (("valgrind", "cachegrind"), ("valgrind", "tk-tierup"), ("hyperfine", "hyperfine")):
        if runner in runners and shutil.which(prog) is None:
            raise MeasureError("suite %s needs %s (runner %s); install it (ci/deps)"
                               % (suite["name"], prog, runner))


def machine():
    """Machine fingerprint: CPU model, cores, kernel, compiler."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cc = "unknown"
    try:
        cc = subprocess.run(["cc", "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            universal_newlines=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    m = {"cpu_model": cpu, "cores": os.cpu_count() or 0, "kernel": platform.release(),
         "arch": platform.machine(), "compiler": cc, "hostname": platform.node()}
    m["fingerprint"] = fingerprint_of(m)
    return m


def fingerprint_of(m):
    """12 hex digits identifying CPU model, cores, kernel, arch and compiler."""
    key = json.dumps({k: m.get(k) for k in ("cpu_model", "cores", "kernel", "arch", "compiler")},
                     sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def tk_env():
    """TK_* variables in the environment: part of the effective configuration."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("TK_")}


def parse_irefs(text):
    m = re.search(r"I\s+refs:\s+([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else None


def parse_cachegrind_functions(path, top=400):
    """Self instruction count per function from a cachegrind.out file
    (events: Ir), the largest `top` of them."""
    fns = {}
    cur = None
    with open(path) as f:
        for line in f:
            if line.startswith("fn="):
                cur = line[3:].strip()
            elif cur is not None and line[:1].isdigit():
                parts = line.split()
                if len(parts) >= 2:
                    fns[cur] = fns.get(cur, 0) + int(parts[1])
            elif line.startswith("fl="):
                cur = None
    return dict(sorted(fns.items(), key=lambda kv: -kv[1])[:top])


def flat_counters(st):
    """{name: total} from a tk-bench strategy object's counters."""
    out = {}
    for k, c in (st.get("counters") or {}).items():
        if isinstance(c, dict):
            out[k] = c.get("total", c.get("nonfinal", 0) + c.get("final", 0))
        elif isinstance(c, (int, float)):
            out[k] = c
    return out


def measured_rps(strat):
    req, ms = 0, 0.0
    for ph in ("measured", "measured2"):
        p = (strat.get("phases") or {}).get(ph)
        if p and p.get("duration_ms"):
            req += p.get("requests", 0)
            ms += p["duration_ms"]
    return req * 1000.0 / ms if ms > 0 else None


class Measurer:
    def __init__(self, suite, timeout=None, progress=True, log=None):
        self.suite = suite
        self.timeout = timeout or suite["timeout_s"]
        self.progress = progress
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="tk-track-")
        self.n = 0
        self.logf = log

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self, msg):
        if self.progress:
            sys.stderr.write("tk-track [%6.1fs] %s\n" % (time.monotonic() - self.t0, msg))
            sys.stderr.flush()

    # ---- one process ------------------------------------------------------------------
    def _run(self, cmd, env=None):
        """Runs cmd with output to files; returns (rc, stdout, stderr,
        max_rss_kb of this process from wait4)."""
        self.n += 1
        paths = [os.path.join(self.tmp, "p%d.%s" % (self.n, x)) for x in ("out", "err")]
        with open(paths[0], "w") as fo, open(paths[1], "w") as fe:
            try:
                p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
            except OSError as e:
                raise MeasureError("cannot run %s: %s" % (cmd[0], e.strerror))
            fired = []
            timer = threading.Timer(self.timeout, lambda: (fired.append(1), p.kill()))
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            p.returncode = os.waitstatus_to_exitcode(status)
        with open(paths[0], errors="replace") as f:
            out = f.read()
        with open(paths[1], errors="replace") as f:
            err = f.read()
        if fired:
            raise MeasureError("timed out after %d s: %s" % (self.timeout, " ".join(map(shlex.quote, cmd))))
        return p.returncode, out, err, ru.ru_maxrss

    def _fail(self, what, cmd, rc, err):
        tail = "\n".join((err or "").strip().splitlines()[-8:])
        raise MeasureError("%s failed (exit %d): %s\n%s" % (what, rc, " ".join(map(shlex.quote, cmd)), tail))

    def tk_bench(self, side, bench):
        self.n += 1
        out = os.path.join(self.tmp, "run-%d.json" % self.n)
        cmd = [side.tk_bench()] + bench["args"] + side.extra_args + ["--json", out]
        if side.impl:
            cmd += ["--impl", side.impl]
        rc, _, err, rss = self._run(cmd)
        if rc != 0 or not os.path.exists(out):
            self._fail("tk-bench", cmd, rc, err)
        try:
            with open(out) as f:
                doc = json.load(f)
        except ValueError as e:
            raise MeasureError("tk-bench wrote invalid JSON (%s): %s" % (e, " ".join(cmd)))
        strats = doc.get("strategies") or {}
        if not strats:
            raise MeasureError("tk-bench JSON has no strategies: %s" % " ".join(cmd))
        sname = next(iter(strats))
        st = strats[sname]
        vals = {"ns_per_call": st.get("ns_per_call"), "requests_per_s": measured_rps(st),
                "live_stub_bytes": st.get("live_stub_bytes"),
                "bytes_per_counted_method": st.get("bytes_per_counted_method"),
                "max_rss_kb": float(rss)}
        counters = flat_counters(st)
        deterministic = (doc.get("workload") or {}).get("mode") == "deterministic" or "--deterministic" in cmd
        info = {"implementation": {k: (doc.get("implementation") or {}).get(k) for k in ("name", "version")},
                "config": dict(st.get("config") or {}, strategy=sname),
                "workload": {k: (doc.get("workload") or {}).get(k) for k in ("name", "fingerprint", "seed", "mode")},
                "binary_revision": doc.get("git_revision")}
        return vals, counters, deterministic, info, cmd

    def cachegrind(self, side, bench, calls_override=None):
        self.n += 1
        outf = os.path.join(self.tmp, "cg-%d.out" % self.n)
        args = list(bench["args"])
        if calls_override is not None:
            i = args.index("--calls")
            args[i + 1] = str(calls_override)
        jout = os.path.join(self.tmp, "cg-%d.json" % self.n)
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=" + outf,
               side.tk_bench()] + args + side.extra_args + ["--json", jout]
        if side.impl:
            cmd += ["--impl", side.impl]
        rc, _, err, _ = self._run(cmd)
        if rc != 0:
            self._fail("valgrind", cmd, rc, err)
        ir = parse_irefs(err)
        if ir is None:
            raise MeasureError("no 'I refs' line in valgrind's output: %s" % " ".join(cmd))
        fns = parse_cachegrind_functions(outf) if calls_override is None else {}
        counters = {}
        try:      # the runtime's counters of the same run (deterministic mode: exact)
            with open(jout) as f:
                st = next(iter((json.load(f).get("strategies") or {}).values()), {})
            counters = flat_counters(st)
        except (OSError, ValueError, StopIteration):
            pass
        return ir, fns, counters, cmd

    def tk_tierup(self, side, bench):
        """tk-tierup's figures (tierup.py), the runtime's counters after the
        final drain, and the runtime's instructions per function (A - B)."""
        # An injected configuration (--inject-config: --config K=V) applies
        # (tk-tierup takes the last value of a key); tk-bench's --set workload
        # keys have no meaning for tk-tierup.
        extra = [x for i in range(0, len(side.extra_args) - 1, 2) if side.extra_args[i] == "--config"
                 for x in side.extra_args[i:i + 2]]
        cmd = [side.tk_tierup(), "--impl", side.tierup_impl()] + bench["args"] + extra
        want = set(bench["metrics"])
        try:
            r = T.measure(cmd, timeout=self.timeout,
                          instructions=bool(want & {"tierup_instructions_per_method",
                                                    "tierup_lock_instructions_per_method",
                                                    "tierup_generated_instructions_per_method"}),
                          acquisitions="tierup_lock_acquisitions_per_method" in want)
        except T.TierupError as e:
            raise MeasureError(str(e))
        vals = {"tierup_instructions_per_method": r.get("runtime_instructions_per_method"),
                "tierup_lock_instructions_per_method": r.get("lock_instructions_per_method"),
                "tierup_lock_acquisitions_per_method": r.get("lock_acquisitions_per_method"),
                "tierup_generated_instructions_per_method": r.get("generated_code_instructions_per_method"),
                "counting_bytes_per_counted_method": r.get("counting_bytes_per_counted_method")}
        return vals, r, cmd

    def hyperfine(self, side, bench):
        self.n += 1
        outf = os.path.join(self.tmp, "hf-%d.json" % self.n)
        argv = [a.replace("{bin}", side.bin_dir) for a in bench["command"]]
        if os.path.basename(argv[0]) == "tk-bench":
            argv += side.extra_args
        cmdline = " ".join(shlex.quote(a) for a in argv)
        cmd = ["hyperfine", "-N", "--style", "none", "--warmup", "1", "--runs", str(bench["runs"]),
               "--export-json", outf, cmdline]
        rc, _, err, _ = self._run(cmd)
        if rc != 0 or not os.path.exists(outf):
            self._fail("hyperfine", cmd, rc, err)
        with open(outf) as f:
            res = json.load(f)["results"][0]
        return [t * 1000.0 for t in res["times"]], cmd

    # ---- a whole measurement ----------------------------------------------------------------
    def measure(self, sides, reps=None, benchmarks=None, phase="main"):
        """Measures every benchmark on every side, `reps` rounds, interleaved.
        Returns {side.label: {benchmark: record}} where a record holds
        samples per metric, counters, functions, commands and run info."""
        suite = self.suite
        reps = reps or suite["reps"]
        benches = [b for b in suite["benchmarks"] if benchmarks is None or b["name"] in benchmarks]
        res = {s.label: {b["name"]: {"samples": {m: [] for m in b["metrics"]}, "counters": {},
                                     "functions": {}, "commands": [], "info": {}, "runner": b["runner"],
                                     "deterministic": False}
                         for b in benches} for s in sides}
        total = sum((1 if b["runner"] in S.EXACT_RUNNERS else reps) for b in benches) * len(sides)
        done = 0
        for rep in range(reps):
            order = sides if rep % 2 == 0 else list(reversed(sides))
            for b in benches:
                if b["runner"] in S.EXACT_RUNNERS and rep > 0:
                    continue            # exact: once per side
                for side in order:
                    done += 1
                    self.log("%s %d/%d: %s %s (round %d/%d)" % (phase, done, total, side.label, b["name"],
                                                                 rep + 1, reps))
                    r = res[side.label][b["name"]]
                    self._one(side, b, r)
        return res

    def _one(self, side, b, r):
        if b["runner"] == "tk-bench":
            vals, counters, det, info, cmd = self.tk_bench(side, b)
            for m in b["metrics"]:
                if vals.get(m) is None:
                    raise MeasureError("benchmark %s: tk-bench reported no %s: %s" % (b["name"], m, " ".join(cmd)))
                r["samples"][m].append(vals[m])
            r["counters"] = counters
            r["deterministic"] = det
            r["info"] = info
            if not r["commands"]:
                r["commands"].append(" ".join(map(shlex.quote, cmd)))
        elif b["runner"] == "cachegrind":
            ir, fns, counters, cmd = self.cachegrind(side, b)
            r["counters"] = counters
            r["commands"].append(" ".join(map(shlex.quote, cmd)))
            if "instructions" in b["metrics"]:
                r["samples"]["instructions"].append(ir)
            if "instructions_per_call" in b["metrics"]:
                calls = int(b["args"][b["args"].index("--calls") + 1])
                ir0, _, _, cmd0 = self.cachegrind(side, b, calls_override=0)
                r["commands"].append(" ".join(map(shlex.quote, cmd0)))
                r["samples"]["instructions_per_call"].append((ir - ir0) / calls if calls else 0.0)
            r["functions"] = fns
            r["deterministic"] = True
        elif b["runner"] == "tk-tierup":
            vals, t, cmd = self.tk_tierup(side, b)
            for m in b["metrics"]:
                if vals.get(m) is None:
                    raise MeasureError("benchmark %s: tk-tierup gave no %s (no method counted?): %s"
                                       % (b["name"], m, " ".join(cmd)))
                r["samples"][m].append(vals[m])
            r["counters"] = {k: v for k, v in t["counters"].items() if isinstance(v, (int, float))}
            r["functions"] = dict(sorted(t.get("functions", {}).items(), key=lambda kv: -kv[1])[:400])
            r["commands"].append(" ".join(map(shlex.quote, cmd)))
            r["deterministic"] = True
            r["info"] = {"implementation": {"name": t.get("implementation"), "version": None},
                         "config": {"tk-tierup": t.get("config")}, "workload": {"name": "tk-tierup"}}
        else:
            times, cmd = self.hyperfine(side, b)
            r["samples"]["wall_ms"].extend(times)
            if not r["commands"]:
                r["commands"].append(" ".join(map(shlex.quote, cmd)))


def run_document(suite, side, rec, machine_info, started, finished, source="run", job=None):
    """The JSON document of one side's run (schema: harness/schema/track-run.schema.json)."""
    benches = {}
    info = {}
    for name, r in rec.items():
        metrics = {}
        for m, vals in r["samples"].items():
            kind, better, unit = S.metric_info(m)
            metrics[m] = {"kind": kind, "better": better, "unit": unit, "samples": vals}
        benches[name] = {"runner": r["runner"], "deterministic": r["deterministic"], "metrics": metrics,
                         "counters": r["counters"], "functions": r["functions"], "commands": r["commands"],
                         "config": (r["info"] or {}).get("config"),
                         "workload": (r["info"] or {}).get("workload")}
        info = r["info"] or info
    return {"schema_version": 1, "tool": "tk-track", "kind": "run", "source": source, "job": job,
            "suite": suite["name"], "revision": side.revision, "dirty": bool(side.dirty),
            "label": side.label, "extra_args": side.extra_args,
            "implementation": info.get("implementation") or {"name": None, "version": None},
            "environment": tk_env(), "machine": machine_info,
            "started_at": started, "finished_at": finished, "benchmarks": benches}
