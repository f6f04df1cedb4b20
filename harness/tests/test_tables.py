"""Text and markdown tables."""
import math

import repro as L


def test_text_table_aligned():
    t = L.table(["name", "value"], [["a", 1], ["longer", 12345]])
    lines = t.splitlines()
    assert len(lines) == 4
    assert len({len(l) for l in lines}) == 1          # every line the same width
    assert lines[1].startswith("------")
    assert lines[3].endswith("12345")


def test_markdown_table():
    t = L.table(["a", "b"], [[1, 2]], markdown=True)
    assert t.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_formatting():
    assert L.fmt_ratio(None) == "-"
    assert L.fmt_ratio(math.inf) == "inf"
    assert L.fmt_ratio(0.87654) == "0.877"
    assert L.fmt_num(None) == "-"
    assert L.fmt_num(3.0) == "3"
    assert L.fmt_num(3.14159, 2) == "3.14"


def test_seed_table_shows_published_and_ours():
    strat = {s: {"counters": {n: {"nonfinal": 7, "final": 1} for n in L.SEED_COUNTERS}}
             for s in ("forwarder", "precode-reuse")}
    strat["lazy"] = {"counters": {n: {"nonfinal": 0, "final": 2} for n in L.SEED_COUNTERS}}
    t = L.seed_table(L.seed_comparison(strat))
    assert "335" in t and "281" in t and "91" in t
    assert "7/1" in t and "0/2" in t
    c = L.commit_table(markdown=True)
    assert "| Previous optimization | 281 | 0 | 60 |" in c
    assert "| Baseline (forwarder stubs) | 335 | 91 | - |" in c


def test_orchard_and_steady_tables():
    agg = {"forwarder": {"requests_per_s": {"mean": 100.0, "spread_pct": None},
                         "counters": {"backpatch_lock_acquisitions": {"total": 10.0},
                                      "backpatch_lock_hold_ns": {"total": 2e6}},
                         "ratio_vs_forwarder": {"requests_per_s": 1.0}},
           "precode-reuse": {"requests_per_s": {"mean": 88.0, "spread_pct": 1.5},
                             "counters": {}, "ratio_vs_forwarder": {"requests_per_s": 0.88}}}
    t = L.orchard_table(agg, ["forwarder", "precode-reuse", "lazy"])
    assert "0.880" in t and "-12..-13%" in t and "lazy" not in t
    summ = L.steady_summary({"notier": [2.0], "lazy": [2.2]}, {"notier": 10.0, "lazy": 11.0}, {})
    st = L.steady_table(summ, ["lazy", "notier"], markdown=True)
    assert st.splitlines()[0].startswith("| strategy |")
    assert "1.100" in st
