"""Suites as data: harness/suites/NAME.toml lists benchmarks, how each is
measured and which metrics it yields, plus the gate's thresholds.  The file
format is documented in SPEC.md "Performance history" and README "Tracking
performance in CI"; every key is checked here, and an error names the file
and the key.

A benchmark has a `runner`:
  tk-bench    `args` are tk-bench arguments (the build's own bin/tk-bench);
              yields ns_per_call, requests_per_s, max_rss_kb (noisy),
              live_stub_bytes, bytes_per_counted_method (exact in
              deterministic mode) and always the runtime's counters;
  cachegrind  the same tk-bench `args` under valgrind --tool=cachegrind;
              yields instructions (exact), instructions_per_call (exact;
              a second run with --calls 0 is subtracted) and per-function
              instruction counts for the regression diagnosis;
  hyperfine   `command` (a list; "{bin}" is the build's bin directory) timed
              as a whole process through hyperfine --export-json; yields
              wall_ms (noisy);
  tk-tierup   `args` are tk-tierup arguments (the build's bin/tk-tierup, its
              ../lib/libtk_ref_driver.so unless the side names an --impl):
              N methods from first call to final tier, deterministic; yields
              tierup_instructions_per_method, tierup_lock_instructions_per_method,
              tierup_generated_instructions_per_method (cachegrind), tierup_lock_acquisitions_per_method (callgrind)
              and counting_bytes_per_counted_method (native, after the final
              drain), all exact (harness/track/tierup.py has the definitions).
"""

import os
import tomllib

SCHEMA_VERSION = 1

# metric -> (runner, kind, better, unit).  "exact" metrics repeat bit for bit
# (or nearly: instruction counts vary by a few parts per million), "noisy"
# ones are timed and need repetitions and a significance test.
METRICS = {
    "instructions": ("cachegrind", "exact", "lower", "instructions"),
    "instructions_per_call": ("cachegrind", "exact", "lower", "instructions/call"),
    "ns_per_call": ("tk-bench", "noisy", "lower", "ns"),
    "requests_per_s": ("tk-bench", "noisy", "higher", "requests/s"),
    "max_rss_kb": ("tk-bench", "noisy", "lower", "KiB"),
    "live_stub_bytes": ("tk-bench", "exact", "lower", "bytes"),
    "bytes_per_counted_method": ("tk-bench", "exact", "lower", "bytes"),
    "wall_ms": ("hyperfine", "noisy", "lower", "ms"),
    "tierup_instructions_per_method": ("tk-tierup", "exact", "lower", "instructions/method"),
    "tierup_lock_instructions_per_method": ("tk-tierup", "exact", "lower", "instructions/method"),
    "tierup_lock_acquisitions_per_method": ("tk-tierup", "exact", "lower", "acquisitions/method"),
    "tierup_generated_instructions_per_method": ("tk-tierup", "exact", "lower", "instructions/method"),
    "counting_bytes_per_counted_method": ("tk-tierup", "exact", "lower", "bytes"),
}
RUNNERS = ("tk-bench", "cachegrind", "hyperfine", "tk-tierup")
# Runners whose every metric is exact: measured once per side, not per round.
EXACT_RUNNERS = ("cachegrind", "tk-tierup")

DEFAULT_THRESHOLDS = {
    "exact_pct": 0.5,        # an exact metric worse by more than this fails
    "noisy_pct": 5.0,        # a noisy metric must be worse by more than this ...
    "alpha": 0.01,           # ... with Mann-Whitney p below this ...
    "confirm": True,         # ... twice (an automatic re-run confirms)
}


class SuiteError(Exception):
    """A suite file is missing, unreadable or invalid (exit status 2)."""


def _fail(path, key, msg):
    raise SuiteError("%s: %s%s" % (path, ("key '%s': " % key) if key else "", msg))


def resolve(name_or_path, suites_dir):
    """'quick' -> harness/suites/quick.toml; a path is taken as is."""
    if os.sep in name_or_path or name_or_path.endswith(".toml"):
        return name_or_path
    return os.path.join(suites_dir, name_or_path + ".toml")


def load(path):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SuiteError("%s: suite file not found" % path)
    except OSError as e:
        raise SuiteError("%s: cannot read: %s" % (path, e.strerror))
    except tomllib.TOMLDecodeError as e:
        raise SuiteError("%s: not valid TOML: %s" % (path, e))
    return validate(data, path)


def _typed(path, key, value, types, what):
    if not isinstance(value, types) or isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,)):
        _fail(path, key, "must be %s, got %r" % (what, value))
    return value


def validate(data, path):
    known = {"schema_version", "name", "description", "reps", "confirm_reps", "timeout_s",
             "thresholds", "benchmark"}
    for k in data:
        if k not in known:
            _fail(path, k, "unknown key (known: %s)" % ", ".join(sorted(known)))
    for k in ("schema_version", "name", "benchmark"):
        if k not in data:
            _fail(path, k, "missing required key")
    if data["schema_version"] != SCHEMA_VERSION:
        _fail(path, "schema_version", "unsupported version %r (this tk-track reads %d)"
              % (data["schema_version"], SCHEMA_VERSION))
    s = {"path": path, "name": _typed(path, "name", data["name"], str, "a string"),
         "description": _typed(path, "description", data.get("description", ""), str, "a string"),
         "reps": _typed(path, "reps", data.get("reps", 9), int, "an integer"),
         "confirm_reps": _typed(path, "confirm_reps", data.get("confirm_reps", data.get("reps", 9)),
                                int, "an integer"),
         "timeout_s": _typed(path, "timeout_s", data.get("timeout_s", 300), int, "an integer")}
    if s["reps"] < 1 or s["confirm_reps"] < 1 or s["timeout_s"] < 1:
        _fail(path, "reps", "reps, confirm_reps and timeout_s must be >= 1")
    th = dict(DEFAULT_THRESHOLDS)
    for k, v in _typed(path, "thresholds", data.get("thresholds", {}), dict, "a table").items():
        if k not in DEFAULT_THRESHOLDS:
            _fail(path, "thresholds." + k, "unknown key (known: %s)" % ", ".join(DEFAULT_THRESHOLDS))
        if k == "confirm":
            th[k] = _typed(path, "thresholds." + k, v, bool, "true or false")
        else:
            th[k] = float(_typed(path, "thresholds." + k, v, (int, float), "a number"))
            if th[k] <= 0:
                _fail(path, "thresholds." + k, "must be > 0")
    if th["alpha"] >= 1:
        _fail(path, "thresholds.alpha", "must be < 1")
    s["thresholds"] = th
    benches = _typed(path, "benchmark", data["benchmark"], list, "an array of tables ([[benchmark]])")
    if not benches:
        _fail(path, "benchmark", "the suite has no benchmark")
    s["benchmarks"] = []
    seen = set()
    for i, b in enumerate(benches):
        s["benchmarks"].append(_benchmark(path, i, b, seen))
    return s


def _benchmark(path, i, b, seen):
    where = "benchmark[%d]" % i
    if not isinstance(b, dict):
        _fail(path, where, "must be a table")
    known = {"name", "runner", "args", "command", "metrics", "description", "runs"}
    for k in b:
        if k not in known:
            _fail(path, where + "." + k, "unknown key (known: %s)" % ", ".join(sorted(known)))
    for k in ("name", "runner", "metrics"):
        if k not in b:
            _fail(path, where + "." + k, "missing required key")
    name = _typed(path, where + ".name", b["name"], str, "a string")
    where = "benchmark '%s'" % name
    if name in seen:
        _fail(path, where, "duplicate benchmark name")
    seen.add(name)
    runner = b["runner"]
    if runner not in RUNNERS:
        _fail(path, where + ".runner", "must be one of %s, got %r" % (", ".join(RUNNERS), runner))
    out = {"name": name, "runner": runner, "description": b.get("description", "")}
    if runner == "hyperfine":
        cmd = b.get("command")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            _fail(path, where + ".command", "a hyperfine benchmark needs command = [\"prog\", \"arg\", ...]")
        out["command"] = cmd
        out["runs"] = _typed(path, where + ".runs", b.get("runs", 10), int, "an integer")
        if out["runs"] < 2:
            _fail(path, where + ".runs", "must be >= 2")
    else:
        args = b.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(c, str) for c in args):
            _fail(path, where + ".args", "needs args = [\"WORKLOAD\", \"--option\", ...] (%s arguments)"
                  % ("tk-tierup" if runner == "tk-tierup" else "tk-bench"))
        for bad in ("--json", "--trace", "--impl") + (("--rounds", "--no-destroy") if runner == "tk-tierup" else ()):
            if bad in args:
                _fail(path, where + ".args", "%s is set by tk-track" % bad)
        out["args"] = args
    metrics = b["metrics"]
    if not isinstance(metrics, list) or not metrics:
        _fail(path, where + ".metrics", "must be a non-empty list of metric names")
    for m in metrics:
        if m not in METRICS:
            _fail(path, where + ".metrics", "unknown metric %r (known: %s)" % (m, ", ".join(sorted(METRICS))))
        if METRICS[m][0] != runner:
            _fail(path, where + ".metrics", "metric %r comes from runner %s, not %s" % (m, METRICS[m][0], runner))
        if m == "instructions_per_call" and "--calls" not in out["args"]:
            _fail(path, where + ".metrics", "instructions_per_call needs --calls N in args")
    out["metrics"] = list(metrics)
    return out


def metric_info(name):
    """(kind, better, unit) of a metric name; counters are exact, lower is
    not necessarily better (reported, never gated)."""
    if name in METRICS:
        _, kind, better, unit = METRICS[name]
        return kind, better, unit
    return "counter", "none", ""
