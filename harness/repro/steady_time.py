"""Time to steady state: the Python statement of tk-bench's definition and its text.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

from .published import AS_MERGED, AS_MERGED_LABEL


TTS_TOLERANCE = 0.02


def steady_state_time(start_ms, rps, window_ms, from_ms, to_ms, mean, tol=TTS_TOLERANCE):
    """Python statement of tk-bench's time to steady state (wl_measure.c
    tk_wl_steady_time): the end of the first window starting in
    [from_ms, to_ms) whose rate is within tol of `mean`, in ms after
    from_ms, else None; with the windows considered and the window closest
    to the mean (signed deviation in percent, start after from_ms).
    Returns {"ms", "windows", "closest_deviation_pct", "closest_window_start_ms"}."""
    found = None
    best = None
    out = {"ms": None, "windows": 0, "closest_deviation_pct": None, "closest_window_start_ms": None}
    for s, r in zip(start_ms, rps):
        if s < from_ms - 1e-6 or s >= to_ms:
            continue
        out["windows"] += 1
        if not mean or mean <= 0:
            continue
        dev = r - mean
        if best is None or abs(dev) < best:
            best = abs(dev)
            out["closest_deviation_pct"] = dev / mean * 100.0
            out["closest_window_start_ms"] = s - from_ms
        if found is None and abs(dev) <= tol * mean:
            found = s + window_ms - from_ms
    out["ms"] = found
    return out


def tts_text(run, which="before_burst"):
    """'800 ms', or why there is none: 'none (closest window +3.1% of 11)'."""
    key = "time_to_steady_state_ms" if which == "before_burst" else "time_to_steady_state_after_burst_ms"
    v = run.get(key)
    if v is not None:
        return "%.0f ms" % v
    d = (run.get("time_to_steady_state_detail") or {}).get(which)
    if not d:
        return "none"
    if d.get("closest_deviation_pct") is None:
        return "none (no full window)"
    return "none (closest of %d windows %+.1f%%)" % (d["windows"], d["closest_deviation_pct"])


def tts_line(agg, order):
    """One text line per row: time to steady state per repetition."""
    parts = []
    for s in order:
        if s not in agg:
            continue
        parts.append("%s: %s" % (AS_MERGED_LABEL if s == AS_MERGED else s,
                                 ", ".join(agg[s].get("time_to_steady_state_text") or [])))
    return "; ".join(parts)

__all__ = ['TTS_TOLERANCE', 'steady_state_time', 'tts_line', 'tts_text']
