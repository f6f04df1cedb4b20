"""Ordering, ratios, verdicts and explanations (harness/repro/)."""
import math

import pytest

import repro as L


def test_alternating_order():
    o = L.alternating_order(list("ABCDE"), 2)
    assert [s for _, s in o] == list("ABCDEABCDE")
    assert [r for r, _ in o] == [0] * 5 + [1] * 5
    with pytest.raises(ValueError):
        L.alternating_order(list("AB"), 0)
    with pytest.raises(ValueError):
        L.alternating_order([], 1)


def test_ratio_edges():
    assert L.ratio(2.0, 4.0) == 0.5
    assert L.ratio(0, 0) == 1.0
    assert L.ratio(3, 0) is None
    assert L.ratio(None, 1) is None
    assert L.spread_pct([1.0]) is None
    assert L.spread_pct([9.0, 11.0]) == pytest.approx(20.0)


def _run(rps, counters, windows=None, threads=4):
    ms = 1000.0
    win = windows or [rps, rps]
    return {"threads": threads,
            "phases": {"warmup": {"duration_ms": ms, "requests": 0},
                       "measured": {"duration_ms": ms, "requests": int(rps)},
                       "measured2": {"duration_ms": ms, "requests": int(rps)}},
            "counters": {k: {"nonfinal": v, "final": 0, "total": v} for k, v in counters.items()},
            "windows": {"requests_per_s": win, "phase": ["measured"] * len(win)}}


def test_measured_rps_uses_both_windows():
    r = _run(1000, {})
    assert L.measured_rps(r) == pytest.approx(1000.0)
    assert L.measured_rps({"phases": {}}) == 0.0


def test_verdict_reproduced_and_explained():
    runs = {"forwarder": [_run(1000, {"backpatch_lock_hold_ns": 1e6, "entry_point_oscillations": 10}),
                          _run(1002, {"backpatch_lock_hold_ns": 1e6, "entry_point_oscillations": 10})],
            "precode-reuse": [_run(870, {"backpatch_lock_hold_ns": 5e6, "entry_point_oscillations": 12}),
                              _run(872, {"backpatch_lock_hold_ns": 5e6, "entry_point_oscillations": 12})]}
    agg = L.orchard_summary(runs)
    v = L.orchard_verdict(agg)
    assert v["reproduced"] is True
    assert v["regression_pct"] == pytest.approx(12.9, abs=0.2)
    assert v["explaining_counter"] == "backpatch_lock_hold_ns"
    assert "REPRODUCED" in v["explanation"]
    assert agg["precode-reuse"]["ratio_vs_forwarder"]["backpatch_lock_hold_ns"] == pytest.approx(5.0)


def test_verdict_not_reproduced_names_counter():
    runs = {"forwarder": [_run(1000, {"slot_writes": 100}), _run(1000, {"slot_writes": 100})],
            "precode-reuse": [_run(1001, {"slot_writes": 300}), _run(999, {"slot_writes": 300})]}
    v = L.orchard_verdict(L.orchard_summary(runs))
    assert v["reproduced"] is False
    assert "NOT REPRODUCED" in v["explanation"]
    assert v["explaining_counter"] == "slot_writes"
    assert v["counter_ratios"]["slot_writes"] == pytest.approx(3.0)


def test_verdict_inconclusive_within_noise():
    noisy = [500.0, 1500.0, 700.0, 1300.0]
    runs = {"forwarder": [_run(1000, {}, noisy)], "precode-reuse": [_run(900, {}, noisy)]}
    v = L.orchard_verdict(L.orchard_summary(runs))
    assert v["within_noise"] is True
    assert v["reproduced"] is False
    assert "INCONCLUSIVE" in v["explanation"]


def test_verdict_missing_strategy():
    v = L.orchard_verdict(L.orchard_summary({"lazy": [_run(1, {})]}))
    assert v["reproduced"] is None and "did not run" in v["explanation"]


def _det(nf, f=0):
    return {"counters": {n: {"nonfinal": nf, "final": f, "total": nf + f} for n in L.SEED_COUNTERS}}


def test_seed_comparison_shape():
    rows = L.seed_comparison({"forwarder": _det(69, 12), "precode-reuse": _det(70, 12), "lazy": _det(0, 12)})
    assert [r["counter"] for r in rows] == L.SEED_COUNTERS
    assert rows[0]["published_before"] == 335 and rows[2]["published_before"] == 91
    assert "as published after the fix" in rows[0]["why"]
    assert L.seed_verdict(rows) is True
    bad = L.seed_comparison({"forwarder": _det(0), "lazy": _det(3)})
    assert "MISMATCH" in bad[0]["why"]
    assert L.seed_verdict(bad) is False


def test_deterministic_counters_ignore_times():
    run = {"counters": {"slot_writes": {"total": 1}, "backpatch_lock_hold_ns": {"total": 5},
                        "compile_cost_us": {"total": 7}}}
    assert list(L.deterministic_counters(run)) == ["slot_writes"]


def test_valgrind_parsing_and_instructions():
    text = "==123== Cachegrind\n==123== I   refs:      444,538,716\n"
    assert L.parse_valgrind_irefs(text) == 444538716
    assert L.parse_valgrind_irefs("nothing") is None
    assert L.instructions_per_call(1200, 200, 10) == 100.0
    assert L.instructions_per_call(None, 1, 1) is None
    assert L.instructions_per_call(5, 1, 0) is None


def test_steady_summary_ratios_and_why():
    counters = {"lazy": {"counters": {"methods_at_tier1": {"total": 90}, "methods_at_tier0": {"total": 10}}},
                "notier": {"counters": {"methods_at_optimized": {"total": 100}}}}
    s = L.steady_summary({"lazy": [10.0, 12.0, 11.0], "notier": [10.0, 10.0]},
                         {"lazy": 110.0, "notier": 100.0}, counters)
    assert s["lazy"]["ns_per_call"]["median"] == 11.0
    assert s["lazy"]["ratio_vs_notier"]["ns_per_call"] == pytest.approx(1.1)
    assert s["lazy"]["ratio_vs_notier"]["instructions_per_call"] == pytest.approx(1.1)
    assert "+10.0 instructions/call" in s["lazy"]["why"]
    assert "10 of 100" in s["lazy"]["why"]
    assert s["notier"]["why"].startswith("baseline")
    s2 = L.steady_summary({"lazy": [1.0], "notier": [1.0]}, {"lazy": None, "notier": None}, {})
    assert "no instruction count" in s2["lazy"]["why"]


def _tier_run(rps, t0, final, counters):
    r = _run(rps, counters)
    for ph in ("measured", "measured2"):
        r["phases"][ph]["calls_by_tier"] = {"tier0": t0, "tier0instr": 0, "final": final}
        r["phases"][ph]["owning_slot_calls"] = (t0 + final) // 2
    return r


def test_median_iqr_and_measured_bodies():
    assert L.iqr_pct([1.0, 2.0, 3.0]) is None
    assert L.iqr_pct([100.0, 100.0, 100.0, 100.0]) == pytest.approx(0.0)
    runs = {"forwarder": [_run(1000, {}), _run(1000, {}), _run(1000, {}), _run(3000, {})]}
    agg = L.orchard_summary(runs)
    assert agg["forwarder"]["requests_per_s"]["median"] == pytest.approx(1000.0)
    assert agg["forwarder"]["requests_per_s"]["mean"] == pytest.approx(1500.0)
    b = L.measured_bodies(_tier_run(1, 30, 70, {}))
    assert b["tier0_pct"] == pytest.approx(30.0) and b["owning_slot_pct"] == pytest.approx(50.0)
    assert L.measured_bodies(_run(1, {})) is None


def test_as_merged_verdict_and_mechanism():
    tc = {"methods_at_tier0": 10, "methods_at_tier1": 90, "calls_counted": 1000,
          "promotions_tier0instr_to_tier1": 90}
    tm = {"methods_at_tier0": 70, "methods_at_tier1": 30, "calls_counted": 200,
          "promotions_tier0instr_to_tier1": 30}
    runs = {"forwarder": [_tier_run(1000, 0, 100, tc)] * 2,
            "precode-reuse": [_tier_run(1000, 0, 100, tc)] * 2,
            L.AS_MERGED: [_tier_run(600, 60, 40, tm)] * 2}
    agg = L.orchard_summary(runs)
    v = L.orchard_verdict(agg, suspect=L.AS_MERGED, label=L.AS_MERGED_LABEL)
    assert v["reproduced"] is True and v["regression_pct"] == pytest.approx(40.0)
    assert L.AS_MERGED_LABEL in v["explanation"]
    m = L.as_merged_explanation(agg)
    assert m["counters"]["methods_at_tier0"][L.AS_MERGED] == 70
    assert "70 methods at tier0" in m["text"] and "60.0/0.0/40.0%" in m["text"]
    t = L.tiering_table(agg, ["forwarder", "precode-reuse", L.AS_MERGED])
    assert L.AS_MERGED_LABEL in t and "60" in t
    assert "did not run" in L.as_merged_explanation({"forwarder": agg["forwarder"]})["text"]


def test_verdict_direction_only_when_magnitude_differs():
    runs = {"forwarder": [_run(1000, {})] * 2, "precode-reuse": [_run(500, {})] * 2}
    v = L.orchard_verdict(L.orchard_summary(runs))
    assert v["reproduced"] is True and v["magnitude_matches"] is False
    assert "DIRECTION ONLY" in v["explanation"]
