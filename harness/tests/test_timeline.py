"""Tier timeline from an event trace (harness/repro/timeline.py)."""
import json

import repro as L


def ev(seq, ev_name, **kw):
    d = {"type": "event", "seq": seq, "ev": ev_name, "thread": 1}
    d.update(kw)
    return json.dumps(d)


def test_methods_move_between_tiers_over_the_sequence():
    lines = [json.dumps({"type": "header", "schema": "tierkit-trace"}),
             ev(1, "publish", method="A#1", tier="tier0"),
             ev(2, "publish", method="B#2", tier="tier0"),
             ev(3, "slot_write", method="A#1"),
             ev(4, "publish", method="A#1", tier="tier1"),
             ev(5, "publish", method="B#2", tier="tier0-instrumented"),
             ev(6, "publish", method="B#2", tier="tier1"),
             ev(7, "lock_acquire")]
    t = L.tier_timeline(lines, points=7)
    assert t["seq"] == [1, 2, 3, 4, 5, 6, 7] and t["methods"] == 2 and t["events"] == 7
    assert t["tiers"]["tier0"] == [1, 2, 2, 1, 0, 0, 0]
    assert t["tiers"]["tier0-instrumented"] == [0, 0, 0, 0, 1, 0, 0]
    assert t["tiers"]["tier1"] == [0, 0, 0, 1, 1, 2, 2]
    # every sample counts each method once
    for i in range(7):
        assert sum(t["tiers"][k][i] for k in L.TIERS) == [1, 2, 2, 2, 2, 2, 2][i]


def test_sampling_keeps_the_last_event_and_no_publish_is_none():
    lines = [ev(i, "publish", method="M#%d" % i, tier="tier0") for i in range(1, 1001)]
    t = L.tier_timeline(lines, points=30)
    assert t["seq"][-1] == 1000 and t["tiers"]["tier0"][-1] == 1000 and len(t["seq"]) <= 32
    assert L.tier_timeline([ev(1, "lock_acquire")]) is None
