"""tk-track command line: run, compare, gate, bisect, report, log.
Exit status: 0 ok (gate: no regression), 1 regression (gate, bisect found
nothing to name), 2 usage or infrastructure error (bad input, missing build,
corrupt history, unknown revision): the history is then left untouched."""

import argparse
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

from . import compare as C
from . import history as H
from . import measure as M
from . import suite as S

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HARNESS)
SUITES = os.path.join(HARNESS, "suites")
DEFAULT_HISTORY = os.path.join("results", "history.sqlite")


class UsageError(Exception):
    pass


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def git(args, cwd=None):
    p = subprocess.run(["git"] + args, cwd=cwd or ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def resolve_revision(rev, cwd=None):
    """Full commit id of rev, or UsageError naming it."""
    rc, out, err = git(["rev-parse", "--verify", "--quiet", rev + "^{commit}"], cwd)
    if rc != 0 or not out:
        raise UsageError("unknown revision '%s' (git rev-parse: %s)" % (rev, err or "not a commit"))
    return out


def worktree_state(cwd=None):
    """(commit, dirty) of the checkout at cwd; ('unknown', True) outside git."""
    rc, out, _ = git(["rev-parse", "HEAD"], cwd)
    if rc != 0:
        return "unknown", True
    rc2, st, _ = git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return out, bool(st) if rc2 == 0 else True


def write_atomic(path, text):
    """Writes text to path through a temporary file and a rename: readers
    never see half a file, and an error leaves the old file."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)      # mkstemp's 0600 is not what a results file wants
    os.replace(tmp, path)


def load_suite(name):
    return S.load(S.resolve(name, SUITES))


def select_benchmarks(suite, names):
    """The suite's benchmarks named in `names` (every one when `names` is
    empty), in the suite's order; an unknown name is a UsageError that lists
    the suite's benchmarks.  For run --benchmark, gate --benchmark and bisect."""
    known = [b["name"] for b in suite["benchmarks"]]
    for n in names or []:
        if n not in known:
            raise UsageError("suite %s has no benchmark '%s' (it has: %s)" % (suite["name"], n, ", ".join(known)))
    return [b for b in suite["benchmarks"] if not names or b["name"] in names]


def parse_inject(values):
    """--inject 'KEY=VALUE' -> ["--set", "KEY=VALUE"]; --inject-config K=V -> ["--config", ...]."""
    out = []
    for v in values or []:
        if "=" not in v:
            raise UsageError("--inject '%s': expected KEY=VALUE (a tk-bench --set override)" % v)
        out += ["--set", v]
    return out


# ---- run -------------------------------------------------------------------------------------------
def cmd_run(a):
    suite = load_suite(a.suite)
    select_benchmarks(suite, a.benchmark)
    rev, dirty = (resolve_revision(a.revision), False) if a.revision else worktree_state()
    side = M.Side("head", a.build_bin, rev, dirty, parse_inject(a.inject), a.impl)
    M.check_tools(suite, [side])
    hist = None if a.no_history else H.open_history(a.history)   # fail early on a bad history
    mz = M.Measurer(suite, progress=not a.quiet)
    started = now()
    try:
        rec = mz.measure([side], reps=a.reps, benchmarks=a.benchmark)[side.label]
    finally:
        mz.close()
    doc = M.run_document(suite, side, rec, M.machine(), started, now(), source=a.source)
    if hist is not None:
        doc["run_id"] = hist.add_run(doc)
        hist.close()
        sys.stderr.write("tk-track: recorded run %d (%s%s) in %s\n"
                         % (doc["run_id"], rev[:12], ", dirty" if dirty else "", a.history))
    if a.json:
        write_atomic(a.json, json.dumps(doc, indent=1) + "\n")
    _print_run(doc)
    return 0


def _print_run(doc):
    rows = []
    for name, b in doc["benchmarks"].items():
        for m, md in b["metrics"].items():
            s = md["samples"]
            med = sorted(s)[len(s) // 2] if s else None
            rows.append([name, m, md["kind"], C.fmt(med), len(s), md["unit"]])
    print(C.table(["benchmark", "metric", "kind", "median", "samples", "unit"], rows))


# ---- compare ---------------------------------------------------------------------------------------
def load_spec(spec, hist_path):
    """A run to compare: 'run:N' or N (a run id in the history), a .json file
    written by tk-track run --json, or a git revision (its latest run)."""
    if spec.endswith(".json") or os.path.isfile(spec):
        try:
            with open(spec) as f:
                doc = json.load(f)
        except OSError as e:
            raise UsageError("%s: cannot read: %s" % (spec, e.strerror))
        except ValueError as e:
            raise UsageError("%s: not JSON: %s" % (spec, e))
        if not isinstance(doc, dict) or doc.get("tool") != "tk-track" or doc.get("kind") != "run":
            raise UsageError("%s: not a tk-track run document (tool/kind)" % spec)
        if doc.get("schema_version") != 1:
            raise UsageError("%s: unsupported schema_version %r" % (spec, doc.get("schema_version")))
        return doc
    hist = H.open_history(hist_path, create=False)
    try:
        rid = None
        if spec.startswith("run:"):
            rid = spec[4:]
        elif spec.isdigit() and len(spec) < 7:
            rid = spec
        if rid is not None:
            if not rid.isdigit():
                raise UsageError("'%s': a run id is a number" % spec)
            return hist.load(int(rid))
        rev = resolve_revision(spec)
        ids = hist.run_ids(revision=rev, source=None)
        ids = [i for i in ids if not hist.load(i)["extra_args"]]
        if not ids:
            raise UsageError("revision %s (%s) has no run in %s; record one with `tk-track run`"
                             % (spec, rev[:12], hist_path))
        return hist.load(ids[-1])
    finally:
        hist.close()


def noise_floor_fn(hist_path, fingerprint):
    if not os.path.exists(hist_path):
        return None
    hist = H.open_history(hist_path, create=False)
    cache = {}

    def nf(b, m):
        if (b, m) not in cache:
            cache[(b, m)] = hist.noise_floor(b, m, fingerprint)
        return cache[(b, m)]
    return nf


def emit(cmp, a, title=None):
    fmt = a.format
    text = (json.dumps(cmp, indent=1) + "\n" if fmt == "json" else C.render(cmp, fmt == "markdown", title))
    sys.stdout.write(text)
    if a.markdown:
        write_atomic(a.markdown, C.render(cmp, True, title))
    if a.json:
        write_atomic(a.json, json.dumps(cmp, indent=1) + "\n")


def cmd_compare(a):
    th = load_suite(a.suite)["thresholds"] if a.suite else dict(S.DEFAULT_THRESHOLDS)
    base = load_spec(a.base, a.history)
    head = load_spec(a.head, a.history)
    nf = noise_floor_fn(a.history, (head.get("machine") or {}).get("fingerprint"))
    cmp = C.compare(base, head, th, nf)
    emit(cmp, a)
    return 0


# ---- log -------------------------------------------------------------------------------------------
def cmd_log(a):
    hist = H.open_history(a.history, create=False)
    rows = [[r["id"], r["started_at"], r["suite"], r["revision"][:12] + ("+" if r["dirty"] else ""),
             r["source"], r["label"] or "", r["machine_fingerprint"] or ""] for r in hist.runs()]
    hist.close()
    if a.format == "json":
        print(json.dumps({"schema_version": 1, "tool": "tk-track", "kind": "log",
                          "runs": [dict(zip(["id", "started_at", "suite", "revision", "source", "label",
                                             "machine"], r)) for r in rows]}, indent=1))
    else:
        print(C.table(["run", "started", "suite", "revision", "source", "label", "machine"], rows))
    return 0


# ---- argument parsing ------------------------------------------------------------------------------
def common(p, suite_default="quick"):
    p.add_argument("--history", default=DEFAULT_HISTORY,
                   help="SQLite history (default %(default)s, relative to the current directory)")
    p.add_argument("--suite", default=suite_default,
                   help="suite name in harness/suites or a .toml path (default %(default)s)")


def measuring_opts(p, recorded, reps="repetitions (default: the suite's)"):
    """The options of every command that measures (run, gate, bisect and its
    steps); `recorded`: what --no-history keeps out of the history."""
    p.add_argument("--reps", type=int, help=reps)
    p.add_argument("--no-history", action="store_true", help="do not record " + recorded)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def build_cache_opt(p):
    """--build-cache of the commands that build other revisions (gate, bisect)."""
    p.add_argument("--build-cache", default=os.path.join("results", "track-builds"),
                   help="where built revisions are kept (default %(default)s)")


def output_opts(p):
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="what to print on stdout (default text)")
    p.add_argument("--markdown", metavar="FILE", help="also write the markdown (a PR comment) to FILE")
    p.add_argument("--json", metavar="FILE", help="also write the JSON (schema_version 1) to FILE")


def parser():
    p = argparse.ArgumentParser(
        prog="tk-track",
        description="Regression tracking for tierkit: measure a suite into a SQLite history, compare "
                    "runs, gate a change against its base, bisect, report.  README.md 'Tracking "
                    "performance in CI'; SPEC.md 'Performance history'.",
        epilog="exit status: 0 ok, 1 regression found (gate), 2 usage or infrastructure error "
               "(the history is then untouched)")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="measure a suite and record it in the history",
                       description="Measures every benchmark of a suite on one build (repetitions "
                                   "interleave benchmarks) and records every raw sample, with the "
                                   "revision, dirty flag, implementation, configuration and machine.")
    common(r)
    r.add_argument("--build-bin", default=os.path.join(ROOT, "build", "bin"),
                   help="directory holding tk-bench (default: this tree's build/bin)")
    r.add_argument("--impl", help="driver library to measure (tk-bench --impl)")
    r.add_argument("--revision", help="record as this revision (default: the checkout's HEAD)")
    measuring_opts(r, "the run (with --json)")
    r.add_argument("--benchmark", action="append", help="only this benchmark (repeatable)")
    r.add_argument("--inject", action="append", metavar="KEY=VALUE",
                   help="an injected change: tk-bench --set KEY=VALUE on every run (calibration)")
    r.add_argument("--json", metavar="FILE", help="also write the run document to FILE")
    r.add_argument("--source", default="run", help=argparse.SUPPRESS)
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("compare", help="compare two runs (revisions, run ids or JSON files)",
                       description="BASE and HEAD are each a run id (run:N or N), a JSON file from "
                                   "`tk-track run --json`, or a git revision (its latest run in the "
                                   "history).  Exits 0 whatever the verdicts; `gate` fails on them.")
    c.add_argument("base")
    c.add_argument("head")
    common(c, suite_default=None)
    output_opts(c)
    c.set_defaults(fn=cmd_compare)

    lg = sub.add_parser("log", help="list the runs in the history")
    lg.add_argument("--history", default=DEFAULT_HISTORY)
    lg.add_argument("--format", choices=("text", "json"), default="text")
    lg.set_defaults(fn=cmd_log)

    from . import gate, bisect, report
    gate.add_parser(sub, common, output_opts)
    bisect.add_parser(sub, common)
    report.add_parser(sub)
    return p


def main(argv=None):
    p = parser()
    a = p.parse_args(argv)
    if getattr(a, "reps", None) is not None and a.reps < 1:
        p.error("--reps must be >= 1")
    try:
        return a.fn(a)
    except (UsageError, S.SuiteError, H.HistoryError, M.MeasureError) as e:
        sys.stderr.write("tk-track %s: %s\n" % (a.cmd, e))
        return 2
    except sqlite3.Error as e:
        sys.stderr.write("tk-track %s: history %s: %s\n" % (a.cmd, getattr(a, "history", "?"), e))
        return 2
    except OSError as e:
        sys.stderr.write("tk-track %s: %s%s\n" % (a.cmd, (e.filename + ": ") if e.filename else "", e.strerror or e))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("tk-track: interrupted; nothing recorded\n")
        return 2
