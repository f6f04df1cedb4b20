"""The published figures reproduced (dotnet/runtime PRs #125359, #124664/#125285) and the
names reproduce compares by: strategies, counters, the as-merged row.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""


STRATEGIES = ["forwarder", "precode-reuse", "lazy", "entry-cell", "notier"]

# The sixth orchard-like row: PR #124664 as merged, i.e. precode-reuse with
# the owning-slot bypass (SPEC.md `inv.counting.no-bypass`): the reference's
# OWNING_SLOT_BYPASS mutant driver run with Strategy=precode-reuse.
AS_MERGED = "precode-reuse-as-merged"
AS_MERGED_LABEL = "precode-reuse (as merged, #124664 with the owning-slot bypass)"
AS_MERGED_STRATEGY = "precode-reuse"
AS_MERGED_MUTANT = "build/lib/mutants/libtk_mut_owning_slot_bypass.so"

# Counters that explain a tiering-speed difference (the as-merged row).
TIERING_COUNTERS = [
    "methods_at_tier0", "methods_at_tier0instr", "methods_at_tier1", "methods_at_optimized",
    "calls_counted", "threshold_hits", "promotions_tier0_to_tier0instr",
    "promotions_tier0_to_tier1", "promotions_tier0instr_to_tier1",
]

# The four counters of the PR #125359 table, under the reference's names.
SEED_COUNTERS = [
    "try_backpatch_calls",
    "backpatch_slots_calls",
    "slot_writes",
    "entry_point_oscillations",
]

# Published figures (dotnet/runtime PR #125359 and PR #124664/#125285),
# kept as data so every table prints them beside our own numbers.
PUBLISHED = {
    "pr125359_table": {
        "source": "dotnet/runtime PR #125359, description, 'Results' table",
        "columns": {"before": "Before (forwarder stubs)", "after": "After optimization"},
        "rows": {
            "try_backpatch_calls": {"label": "TryBackpatchEntryPointSlots", "before": 335, "after": 0},
            "backpatch_slots_calls": {"label": "BackpatchSlots", "before": 335, "after": 0},
            "slot_writes": {"label": "Slot writes", "before": 91, "after": 0},
            "entry_point_oscillations": {"label": "Entry point oscillations", "before": 281, "after": 0},
        },
    },
    "pr125359_commit": {
        "source": "dotnet/runtime PR #125359, commit message of the core change",
        "columns": ["TryBackpatchEntryPointSlots", "BackpatchSlots", "slot writes"],
        "rows": [
            {"label": "Baseline (forwarder stubs)", "values": [335, 91, None]},
            {"label": "Previous optimization", "values": [281, 0, 60]},
            {"label": "After this change", "values": [0, 0, 0]},
        ],
        "note": "the commit message puts 91 under BackpatchSlots while the PR table "
                "lists 91 slot writes; both are printed as published",
    },
    "orchard_regression": {
        "source": "dotnet/runtime PR #124664 (precode reuse), reverted by #125285",
        "regression_pct_low": 12.0,
        "regression_pct_high": 13.0,
        "strategy": "precode-reuse",
        "baseline": "forwarder",
    },
}

# A drop of at least this much in precode-reuse throughput counts as the
# regression reproducing (the orchard-like gate flags >= 5%, SPEC.md "Workloads").
REGRESSION_FLAG_PCT = 5.0

ORCHARD_EXPLAIN_COUNTERS = [
    "backpatch_lock_hold_ns",
    "backpatch_lock_acquisitions",
    "backpatch_lock_contended",
    "entry_point_oscillations",
    "slot_writes",
    "try_backpatch_calls",
    "precode_retargets",
]

__all__ = ['AS_MERGED', 'AS_MERGED_LABEL', 'AS_MERGED_MUTANT', 'AS_MERGED_STRATEGY', 'ORCHARD_EXPLAIN_COUNTERS', 'PUBLISHED', 'REGRESSION_FLAG_PCT', 'SEED_COUNTERS', 'STRATEGIES', 'TIERING_COUNTERS']
