"""Time to steady state (the window logic, and tk-bench's value against a
recomputation from its own windows), the sensitivity grid and its summary,
and the steady-state warmup convergence fields."""
import json
import os
import subprocess

import pytest

import repro as L
import reproduce
import schema_check
from conftest import BIN, FAKE, HARNESS, ROOT

needs_bin = pytest.mark.skipif(not (os.path.exists(BIN) and os.path.exists(FAKE)),
                               reason="build/bin/tk-bench or the fake driver is not built (make native)")


# ---- time to steady state: the definition --------------------------------------------------
def test_first_window_within_two_percent():
    starts = [0, 100, 200, 300, 400]
    rps = [500.0, 900.0, 985.0, 1030.0, 1000.0]
    r = L.steady_state_time(starts, rps, 100, 0, 500, 1000.0)
    assert r["ms"] == 300                       # the window starting at 200 ends at 300
    assert r["windows"] == 5
    assert r["closest_deviation_pct"] == pytest.approx(0.0)
    assert r["closest_window_start_ms"] == 400


def test_exactly_two_percent_counts_and_from_offsets():
    r = L.steady_state_time([1000, 1100], [980.0, 1000.0], 100, 1000, 2000, 1000.0)
    assert r["ms"] == 100                       # after from_ms, the boundary is inclusive
    r = L.steady_state_time([0, 1000, 1100], [1000.0, 900.0, 1000.0], 100, 1000, 2000, 1000.0)
    assert r["windows"] == 2 and r["ms"] == 200  # windows before from_ms are not considered


def test_none_within_two_percent_reports_the_closest():
    # a level shift inside the measured phase: the mean lies between two levels
    starts = [0, 200, 400, 600, 800, 1000]
    rps = [3000.0, 5600.0, 5640.0, 6880.0, 7070.0, 6930.0]
    mean = 6300.0
    r = L.steady_state_time(starts, rps, 200, 0, 1200, mean)
    assert r["ms"] is None
    assert r["windows"] == 6
    assert r["closest_deviation_pct"] == pytest.approx((6880.0 - mean) / mean * 100.0)
    assert r["closest_window_start_ms"] == 600
    run = {"time_to_steady_state_ms": None,
           "time_to_steady_state_detail": {"before_burst": r}}
    assert L.tts_text(run) == "none (closest of 6 windows +9.2%)"
    assert L.tts_text({"time_to_steady_state_ms": 412.4}) == "412 ms"
    assert L.steady_state_time([], [], 100, 0, 1, 1.0)["closest_deviation_pct"] is None


def _recompute(run, which):
    w = run["windows"]
    phases = ("warmup", "measured") if which == "before_burst" else ("burst", "measured2")
    sel = [(s, r) for s, r, p in zip(w["start_ms"], w["requests_per_s"], w["phase"]) if p in phases]
    if not sel:
        return None
    frm = 0.0 if which == "before_burst" else sel[0][0]
    mean = run["phases"]["measured" if which == "before_burst" else "measured2"]["requests_per_s"]
    return L.steady_state_time([s for s, _ in sel], [r for _, r in sel], w["window_ms"], frm - 1e-3,
                               1e12, mean)


@needs_bin
def test_tk_bench_agrees_with_the_definition(tmp_path):
    """tk-bench's figure (and, when null, its closest window) equals the
    definition applied to the windows it reports; every phase's windows are
    all kept (fixed grid, the last window of a phase included)."""
    out = tmp_path / "o.json"
    p = subprocess.run([BIN, "orchard-like", "--impl", FAKE, "--strategy", "lazy,notier", "--scale", "0.1",
                        "--time-scale", "4", "--threads", "2", "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    for s, run in d["strategies"].items():
        det = run["time_to_steady_state_detail"]
        assert det["tolerance_pct"] == 2
        for which, key in (("before_burst", "time_to_steady_state_ms"),
                           ("after_burst", "time_to_steady_state_after_burst_ms")):
            mine = _recompute(run, which)
            theirs = det[which]
            assert mine["windows"] == theirs["windows"], (s, which)
            if run[key] is None:
                assert mine["ms"] is None
                assert theirs["closest_deviation_pct"] == pytest.approx(mine["closest_deviation_pct"], abs=0.01)
            else:
                assert run[key] == pytest.approx(mine["ms"], abs=1.0), (s, which)
        # full windows per phase, none dropped: a phase of length D holds at
        # least floor(D / W) - 1 windows of the fixed grid (one fewer when a
        # loaded machine starts the phase off the grid)
        w = run["windows"]
        for ph in ("warmup", "measured", "measured2"):
            dur = run["phases"][ph]["duration_ms"]
            n = sum(1 for x in w["phase"] if x == ph)
            assert n >= int(dur / w["window_ms"] + 0.02) - 1, (s, ph, n, dur)


# ---- sensitivity --------------------------------------------------------------------------------
def test_sensitivity_grid():
    pts = L.sensitivity_points()
    assert len(pts) == len(L.SENSITIVITY_TIER0_COSTS) * len(L.SENSITIVITY_OWNING) == 6
    first = pts[0]
    assert first["sets"][:2] == ["tier0_cost=1.5", "tier0_instrumented_cost=2"]
    low = [p for p in pts if p["owning_setting"] == "low owning-slot share"]
    assert all("direct_call_share=0.1" in p["sets"] and "inherited_share=0.8" in p["sets"] for p in low)
    assert len({p["id"] for p in pts}) == 6


def _run(rps, t0_pct=0.0, own_pct=70.0, windows=None):
    win = windows or [rps] * 4
    calls = 1000
    t0 = int(calls * t0_pct / 100)
    ph = {"duration_ms": 1000.0, "requests": int(rps),
          "calls_by_tier": {"tier0": t0, "tier0instr": 0, "final": calls - t0},
          "owning_slot_calls": int(calls * own_pct / 100)}
    return {"threads": 2, "phases": {"warmup": {"duration_ms": 1000.0, "requests": 0},
                                     "measured": dict(ph), "measured2": dict(ph)},
            "counters": {"methods_at_tier0": {"nonfinal": 0, "final": 5, "total": 5}},
            "windows": {"requests_per_s": win, "phase": ["measured"] * len(win)}}


def test_sensitivity_point_summary_bands():
    pt = L.sensitivity_points()[0]
    s = L.sensitivity_point_summary(pt, [_run(1000), _run(1000)], [_run(875, 60), _run(875, 60)])
    assert s["regression_pct"] == pytest.approx(12.5)
    assert s["in_published_range"] and s["consistent_with_published"]
    assert s["as_merged_tier0_bodies_pct"] == pytest.approx(60.0)
    assert s["owning_slot_calls_pct"] == pytest.approx(70.0)
    far = L.sensitivity_point_summary(pt, [_run(1000)] * 2, [_run(600, 60)] * 2)
    assert far["regression_pct"] == pytest.approx(40.0)
    assert not far["in_published_range"] and not far["consistent_with_published"]
    # 16% with 5% noise: not in the band, but consistent with it
    noisy = L.sensitivity_point_summary(pt, [_run(1000), _run(1050)], [_run(840), _run(860)])
    assert not noisy["in_published_range"]
    assert noisy["noise_pct"] >= 3.2
    assert noisy["consistent_with_published"] is True


def test_sensitivity_brackets_read_off_the_grid():
    pts = []
    for p, reg in zip(L.sensitivity_points(), [9.0, 20.0, 40.0, 5.0, 11.0, 11.5]):
        pts.append({"tier0_cost": p["tier0_cost"], "owning_setting": p["owning_setting"],
                    "regression_pct": reg, "owning_slot_calls_pct": 70.0})
    b = L.sensitivity_brackets(pts)
    assert "between tier0_cost 1.5 and 2" in b[0]
    assert "less than 12%" in b[1] and "above tier0_cost 3" in b[1]


@needs_bin
def test_sensitivity_end_to_end_with_fake_driver(tmp_path, capsys):
    rc = reproduce.main(["--sensitivity", "--bin", BIN, "--impl", FAKE, "--as-merged-impl", FAKE,
                         "--out", str(tmp_path), "--quick", "--reps", "1", "--orchard-scale", "0.1",
                         "--threads", "2"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads((tmp_path / "sensitivity.json").read_text())
    with open(os.path.join(HARNESS, "schema", "sensitivity.schema.json")) as f:
        assert schema_check.validate(doc, json.load(f)) == []
    assert doc["schema_version"] == 1 and len(doc["points"]) == 6
    assert len(doc["order"]) == 12 and doc["order"][0].endswith(":forwarder")
    # overrides reach tk-bench: the fingerprint differs between cost factors
    assert len({p["fingerprint"] for p in doc["points"]}) == 6
    assert "not a fit" in doc["note"].lower()
    md = (tmp_path / "sensitivity.md").read_text()
    assert "Not a fit." in md and "| tier0_cost |" in md
    assert "NOT A FIT" in out.out
    assert not (tmp_path / "reproduce.json").exists()


# ---- steady-state warmup convergence --------------------------------------------------------------
def test_steady_summary_reports_convergence():
    runs = {"lazy": {"counters": {"methods_at_tier1": {"total": 100}},
                     "warmup_convergence": {"rounds": 3, "methods": 100, "methods_not_final": 0, "calls": 5}},
            "notier": {"counters": {"methods_at_optimized": {"total": 100}}}}
    s = L.steady_summary({"lazy": [1.0], "notier": [1.0]}, {"lazy": 10.0, "notier": 10.0}, runs)
    assert s["lazy"]["methods_not_final_after_warmup"] == 0
    assert s["lazy"]["warmup_convergence"]["rounds"] == 3
    assert "all 100 published methods at the final tier" in s["lazy"]["why"]
    assert "3 round(s), 0 of 100 reached methods not final" in s["lazy"]["why"]
