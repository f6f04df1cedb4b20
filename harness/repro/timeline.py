"""Tier timeline of a run from its event trace (SPEC.md "Event trace"):
how many methods have their published code at each tier, over the trace's
logical time (the event sequence number; the trace has no clock).  A
method's tier is the tier of its latest `publish` event."""

TIERS = ["tier0", "tier0-instrumented", "tier1", "optimized"]


def tier_timeline(lines, points=200):
    """lines: the trace's JSON Lines (str).  Returns {"seq": [..], "tiers":
    {tier: [..]}, "methods": n, "events": n} sampled at about `points`
    evenly spaced events (and always at the last one), or None for a trace
    without publish events."""
    import json
    publish = []          # (seq, method, tier)
    last_seq = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        e = json.loads(line)
        if e.get("type") != "event":
            continue
        last_seq = e["seq"]
        if e.get("ev") == "publish" and e.get("method") and e.get("tier") in TIERS:
            publish.append((e["seq"], e["method"], e["tier"]))
    if not publish:
        return None
    step = max(1, last_seq // points)
    marks = list(range(step, last_seq + 1, step))
    if not marks or marks[-1] != last_seq:
        marks.append(last_seq)
    current = {}
    counts = {t: 0 for t in TIERS}
    out = {"seq": [], "tiers": {t: [] for t in TIERS}}
    i = 0
    for m in marks:
        while i < len(publish) and publish[i][0] <= m:
            _, meth, tier = publish[i]
            old = current.get(meth)
            if old is not None:
                counts[old] -= 1
            current[meth] = tier
            counts[tier] += 1
            i += 1
        out["seq"].append(m)
        for t in TIERS:
            out["tiers"][t].append(counts[t])
    out["methods"] = len(current)
    out["events"] = last_seq
    return out


__all__ = ["TIERS", "tier_timeline"]
