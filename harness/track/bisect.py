"""tk-track bisect GOOD BAD BENCHMARK: names the first commit at which one
benchmark regressed.  BAD is first gated against GOOD (if it does not
regress there is nothing to bisect: exit 1).  Then `git bisect run` drives
the search in a temporary worktree (the caller's checkout and bisect state
are never touched); each step builds the commit (cached), gates it against
GOOD's build on that benchmark only, and answers good (0), bad (1), skip
(125, the commit does not build) or abort (128, infrastructure)."""

import json
import os
import shlex
import subprocess
import sys
import tempfile

from . import build as B
from . import history as H
from . import measure as M


def add_parser(sub, common):
    from . import cli
    b = sub.add_parser("bisect", help="find the first commit where BENCHMARK regressed",
                       description="Gates BAD against GOOD on BENCHMARK, then drives `git bisect run` "
                                   "with the gate on that benchmark in a temporary worktree and names "
                                   "the first bad commit.  Exit 0 found, 1 BAD does not regress, 2 error.")
    b.add_argument("good")
    b.add_argument("bad")
    b.add_argument("benchmark")
    common(b)
    _forwarded_opts(b)
    b.add_argument("--repo", default=None, help="git repository (default: this tierkit checkout)")
    cli.build_cache_opt(b)
    b.add_argument("--json", metavar="FILE", help="write the result (schema_version 1) to FILE")
    b.set_defaults(fn=cmd_bisect)
    s = sub.add_parser("bisect-step", help="(internal) one step of git bisect run")
    _forwarded_opts(s)
    for opt in ("--good-bin", "--good-rev", "--benchmark", "--suite", "--history", "--build-cache", "--steps-log"):
        s.add_argument(opt, required=True)
    s.set_defaults(fn=cmd_step)


# The options of `bisect` that every `bisect-step` process gets again (git
# bisect run starts one per step): (flag, takes a value).  _forwarded_opts
# declares them for both parsers, _forward passes them on.
FORWARDED = (("--metric", True), ("--build-cmd", True), ("--reps", True), ("--no-history", False), ("--quiet", False))


def _forwarded_opts(p):
    from . import cli
    p.add_argument("--metric", help="only this metric of the benchmark")
    p.add_argument("--build-cmd", help="how to build a checkout (default: make -j2 %s)" % " ".join(B.DEFAULT_TARGETS))
    cli.measuring_opts(p, "the step runs")


def _forward(a):
    out = []
    for flag, valued in FORWARDED:
        v = getattr(a, flag[2:].replace("-", "_"))
        if valued and v is not None:
            out += [flag, str(v)]
        elif not valued and v:
            out.append(flag)
    return out


def narrowed_suite(a):
    from . import cli
    suite = cli.load_suite(a.suite)
    b = dict(cli.select_benchmarks(suite, [a.benchmark])[0])
    if a.metric:
        if a.metric not in b["metrics"]:
            raise cli.UsageError("benchmark %s has no metric '%s' (it has: %s)"
                                 % (a.benchmark, a.metric, ", ".join(b["metrics"])))
        b["metrics"] = [a.metric]
    suite = dict(suite, benchmarks=[b])
    return suite


def _gate_once(a, suite, good_rev, good_bin, rev, bin_dir, hist):
    from . import gate
    base = M.Side("base", good_bin, good_rev)
    head = M.Side("head", bin_dir, rev)
    return gate.run_gate(suite, suite["thresholds"], base, head, a.reps, None, hist, quiet=a.quiet)


def cmd_step(a):
    from . import cli
    repo = os.getcwd()
    rc, rev, _ = cli.git(["rev-parse", "HEAD"], repo)
    try:
        suite = narrowed_suite(a)
        try:
            bin_dir = B.build_revision(repo, rev, a.build_cache, make_cmd=shlex.split(a.build_cmd) if a.build_cmd else None)
        except B.BuildError as e:
            sys.stderr.write("tk-track bisect: %s: skipping\n" % e)
            _log_step(a.steps_log, rev, "skip", None)
            return 125
        hist = None if a.no_history else H.open_history(a.history)
        res = _gate_once(a, suite, a.good_rev, a.good_bin, rev, bin_dir, hist)
        if hist:
            hist.close()
    except (cli.UsageError, H.HistoryError, M.MeasureError) as e:
        sys.stderr.write("tk-track bisect: %s: aborting the bisection\n" % e)
        return 128
    verdict = "bad" if res["fail"] else "good"
    rows = [r for r in res["compare"]["metrics"]]
    _log_step(a.steps_log, rev, verdict, rows)
    sys.stderr.write("tk-track bisect: %s is %s\n" % (rev[:12], verdict))
    return 1 if res["fail"] else 0


def _log_step(path, rev, verdict, rows):
    with open(path, "a") as f:
        f.write(json.dumps({"commit": rev, "verdict": verdict,
                            "metrics": [{k: r.get(k) for k in ("metric", "base", "head", "change_pct", "p", "verdict")}
                                        for r in (rows or [])]}) + "\n")


def cmd_bisect(a):
    from . import cli
    repo = os.path.abspath(a.repo) if a.repo else cli.ROOT
    good = cli.resolve_revision(a.good, repo)
    bad = cli.resolve_revision(a.bad, repo)
    rc, _, _ = cli.git(["merge-base", "--is-ancestor", good, bad], repo)
    if rc != 0:
        raise cli.UsageError("GOOD %s is not an ancestor of BAD %s" % (a.good, a.bad))
    suite = narrowed_suite(a)
    make_cmd = shlex.split(a.build_cmd) if a.build_cmd else None
    cache = os.path.abspath(a.build_cache)
    hist_path = os.path.abspath(a.history)
    hist = None if a.no_history else H.open_history(hist_path)
    try:
        good_bin = B.build_revision(repo, good, cache, make_cmd=make_cmd)
        bad_bin = B.build_revision(repo, bad, cache, make_cmd=make_cmd)
    except B.BuildError as e:
        raise M.MeasureError(str(e))
    sys.stderr.write("tk-track bisect: checking that %s regresses against %s on %s\n" % (bad[:12], good[:12], a.benchmark))
    first = _gate_once(a, suite, good, good_bin, bad, bad_bin, hist)
    if hist:
        hist.close()
    result = {"schema_version": 1, "tool": "tk-track", "kind": "bisect", "good": good, "bad": bad,
              "benchmark": a.benchmark, "metric": a.metric, "suite": suite["name"],
              "bad_vs_good": [{k: r.get(k) for k in ("metric", "base", "head", "change_pct", "p", "verdict")}
                              for r in first["compare"]["metrics"]]}
    if not first["fail"]:
        result.update(first_bad=None, steps=[],
                      message="%s does not regress against %s on %s: nothing to bisect" % (a.bad, a.good, a.benchmark))
        return _finish(a, result, 1)
    tmp = tempfile.mkdtemp(prefix="tk-track-bisect-")
    wt = os.path.join(tmp, "wt")
    steps_log = os.path.join(tmp, "steps.jsonl")
    try:
        rc, _, err = cli.git(["worktree", "add", "--detach", wt, bad], repo)
        if rc != 0:
            raise M.MeasureError("cannot create a worktree for the bisection: %s" % err)
        for args in (["bisect", "start", bad, good],):
            rc, out, err = cli.git(args, wt)
            if rc != 0:
                raise M.MeasureError("git %s failed: %s" % (" ".join(args), err or out))
        step = [sys.executable, os.path.join(cli.HARNESS, "tk-track"), "bisect-step",
                "--good-bin", good_bin, "--good-rev", good, "--benchmark", a.benchmark,
                "--suite", suite["path"], "--history", hist_path, "--build-cache", cache,
                "--steps-log", steps_log] + _forward(a)
        p = subprocess.run(["git", "bisect", "run"] + step, cwd=wt, stdout=subprocess.PIPE,
                           stderr=None if not a.quiet else subprocess.DEVNULL, universal_newlines=True)
        out = p.stdout
        rc2, first_bad, _ = cli.git(["rev-parse", "--verify", "--quiet", "refs/bisect/bad"], wt)
        if p.returncode != 0 or "is the first bad commit" not in out:
            raise M.MeasureError("git bisect run did not name a first bad commit (exit %d):\n%s"
                                 % (p.returncode, "\n".join(out.strip().splitlines()[-10:])))
        steps = []
        if os.path.exists(steps_log):
            with open(steps_log) as f:
                steps = [json.loads(l) for l in f if l.strip()]
        _, subject, _ = cli.git(["log", "-1", "--format=%s", first_bad], repo)
        result.update(first_bad=first_bad, subject=subject, steps=steps,
                      message="first bad commit: %s %s" % (first_bad[:12], subject))
    finally:
        cli.git(["bisect", "reset"], wt)
        cli.git(["worktree", "remove", "--force", wt], repo)
        cli.git(["worktree", "prune"], repo)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return _finish(a, result, 0)


def _finish(a, result, rc):
    from . import cli
    print(result["message"])
    for s in result.get("steps", []):
        print("  %s %s" % (s["commit"][:12], s["verdict"]))
    if a.json:
        cli.write_atomic(a.json, json.dumps(result, indent=1) + "\n")
    return rc
