"""Recording other tools' results into the history: `make reproduce`'s
results/reproduce.json becomes one run (source "reproduce") whose
benchmarks are reproduce/<table>/<strategy>: orchard-like requests/s per
repetition, steady-state ns/call per repetition and instructions/call
(exact), with the end-of-run counters; seed-vtable-test's deterministic
counters.  Called by harness/reproduce.py after it wrote its files."""

from . import cli
from . import history as H
from . import measure as M
from . import suite as S


def _metric(name, samples):
    kind, better, unit = S.metric_info(name)
    return {"kind": kind, "better": better, "unit": unit, "samples": [float(x) for x in samples]}


def _totals(counters):
    out = {}
    for k, c in (counters or {}).items():
        if isinstance(c, dict):
            out[k] = float(c.get("total", c.get("nonfinal", 0) + c.get("final", 0)))
        elif isinstance(c, (int, float)):
            out[k] = float(c)
    return out


def reproduce_run(doc):
    """The run document for a reproduce.json document."""
    benches = {}
    ol = doc.get("orchard_like") or {}
    for s, v in (ol.get("strategies") or {}).items():
        runs = [x for x in (v.get("requests_per_s") or {}).get("runs") or [] if x is not None]
        benches["reproduce/orchard-like/%s" % s] = {
            "runner": "reproduce", "deterministic": False, "commands": [],
            "config": v.get("config"), "workload": ol.get("workload"),
            "metrics": {"requests_per_s": _metric("requests_per_s", runs)} if runs else {},
            "counters": _totals(v.get("counters")), "functions": {}}
    ss = doc.get("steady_state") or {}
    for s, v in (ss.get("strategies") or {}).items():
        m = {}
        runs = [x for x in (v.get("ns_per_call") or {}).get("runs") or [] if x is not None]
        if runs:
            m["ns_per_call"] = _metric("ns_per_call", runs)
        if v.get("instructions_per_call") is not None:
            m["instructions_per_call"] = _metric("instructions_per_call", [v["instructions_per_call"]])
        benches["reproduce/steady-state/%s" % s] = {
            "runner": "reproduce", "deterministic": True, "commands": [], "config": v.get("config"),
            "workload": ss.get("workload"), "metrics": m, "counters": _totals(v.get("counters")),
            "functions": {}}
    sv = doc.get("seed_vtable_test") or {}
    for s, v in (sv.get("strategies") or {}).items():
        if isinstance(v, dict) and "counters" in v:
            benches["reproduce/seed-vtable-test/%s" % s] = {
                "runner": "reproduce", "deterministic": True, "commands": [], "config": v.get("config"),
                "workload": sv.get("workload"), "metrics": {}, "counters": _totals(v.get("counters")),
                "functions": {}}
    rev, dirty = cli.worktree_state()
    impl = doc.get("implementation") or {}
    return {"schema_version": 1, "tool": "tk-track", "kind": "run", "source": "reproduce", "job": None,
            "suite": "reproduce-quick" if doc.get("quick") else "reproduce", "revision": rev, "dirty": dirty,
            "label": "reproduce", "extra_args": [],
            "implementation": {"name": impl.get("name"), "version": impl.get("version")},
            "environment": M.tk_env(), "machine": M.machine(),
            "started_at": doc.get("started_at") or cli.now(), "finished_at": cli.now(), "benchmarks": benches}


def record_reproduce(doc, history_path):
    """Records doc; returns the run id.  Raises history.HistoryError."""
    run = reproduce_run(doc)
    hist = H.open_history(history_path)
    try:
        return hist.add_run(run)
    finally:
        hist.close()
