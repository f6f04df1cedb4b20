"""seed-vtable-test: our deterministic counters beside the PR #125359 table.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

from .published import PUBLISHED, SEED_COUNTERS, STRATEGIES
from .runs import counter


def seed_comparison(strategies):
    """Rows comparing our deterministic counters with the PR #125359 table.

    `strategies` maps strategy -> tk-bench strategy object.  'before' is
    shown beside forwarder and precode-reuse (the PR labels it "forwarder
    stubs"; the narrative attributes the counts to the precode-reuse design),
    'after' beside lazy (the PR's fix).  Published counts span the whole test
    run; we compare our non-final counts (what the fix removes) and report
    the final-tier ones separately."""
    pub = PUBLISHED["pr125359_table"]["rows"]
    rows = []
    for name in SEED_COUNTERS:
        p = pub[name]
        row = {"counter": name, "published_label": p["label"],
               "published_before": p["before"], "published_after": p["after"], "ours": {}}
        for s in [x for x in STRATEGIES if x in strategies] + [x for x in strategies if x not in STRATEGIES]:
            if s in strategies:
                run = strategies[s]
                row["ours"][s] = {"nonfinal": counter(run, name, "nonfinal"),
                                  "final": counter(run, name, "final")}
        row["why"] = seed_why(name, row)
        rows.append(row)
    return rows


def seed_why(name, row):
    ours = row["ours"]
    pb = row["published_before"]
    parts = []
    lazy = ours.get("lazy")
    if lazy is not None:
        if lazy["nonfinal"] == 0:
            parts.append("lazy: 0 in non-final tiers, as published after the fix")
        else:
            parts.append("lazy: %d in non-final tiers where the fix publishes 0 (MISMATCH)"
                         % lazy["nonfinal"])
        if lazy["final"]:
            parts.append("its %d final-tier ones are the lazy patches at the final tier"
                         % lazy["final"])
    before = [(s, ours[s]["nonfinal"]) for s in ("forwarder", "precode-reuse") if s in ours]
    if before:
        b = max(v for _, v in before)
        if b == 0:
            parts.append("eager strategies show 0 where %d is published (MISMATCH)" % pb)
        else:
            parts.append("eager strategies %s vs %d published: same sign, scale %.2fx "
                         "(our replica is smaller; the PR's test size is unpublished)"
                         % ("/".join("%s %d" % (s, v) for s, v in before), pb, b / pb if pb else 0))
    return "; ".join(parts)


def seed_verdict(rows):
    """True when the published *shape* holds: lazy has zero non-final
    try_backpatch/slot writes/oscillations, eager strategies have some."""
    ok = True
    for r in rows:
        lazy = r["ours"].get("lazy")
        if lazy is None or lazy["nonfinal"] != 0:
            ok = False
        eager = [r["ours"][s]["nonfinal"] for s in ("forwarder", "precode-reuse") if s in r["ours"]]
        if not eager or max(eager) == 0:
            ok = False
    return ok

__all__ = ['seed_comparison', 'seed_verdict', 'seed_why']
