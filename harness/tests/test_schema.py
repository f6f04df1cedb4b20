"""The stdlib schema validator and the reproduce.json schema."""
import copy
import json

import pytest

import schema_check
from conftest import SCHEMA


def test_types_required_and_additional():
    s = {"type": "object", "required": ["a"], "additionalProperties": False,
         "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"type": ["string", "null"]}}}
    assert schema_check.validate({"a": 2, "b": None}, s) == []
    assert any("missing required key 'a'" in e for e in schema_check.validate({}, s))
    assert any("unexpected key" in e for e in schema_check.validate({"a": 1, "c": 0}, s))
    assert any("below minimum" in e for e in schema_check.validate({"a": 0}, s))
    assert any("expected integer" in e for e in schema_check.validate({"a": "x"}, s))
    # booleans are not integers
    assert schema_check.validate({"a": True}, s) != []


def test_ref_enum_items():
    s = {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/x"},
         "definitions": {"x": {"enum": ["p", "q"]}}}
    assert schema_check.validate(["p", "q"], s) == []
    assert schema_check.validate([], s) != []
    errs = schema_check.validate(["p", "z"], s)
    assert errs and "$[1]" in errs[0]
    assert schema_check.validate([1], {"items": {"$ref": "#/nope"}}) != []


def _minimal_doc():
    counters = {"slot_writes": {"nonfinal": 1, "final": 2, "total": 3}}
    wl = {"name": "w", "fingerprint": "0123456789abcdef", "seed": 1}
    strat = {"config": {"Strategy": "lazy"}, "counters": counters}
    return {
        "schema_version": 1, "tool": "tierkit-reproduce", "quick": True, "elapsed_s": 1.0,
        "git_revision": "abc", "machine": {"sysname": "Linux", "release": "6", "arch": "x86_64",
                                            "nproc": 2, "cpu_model": "x"},
        "implementation": {"path": "p", "name": "n", "version": "1"},
        "published": {"pr125359_table": {}, "pr125359_commit": {}, "orchard_regression": {}},
        "seed_vtable_test": {"workload": wl, "repeat_identical": True, "shape_matches": True,
                             "strategies": {"lazy": strat},
                             "comparison": [{"counter": "slot_writes", "published_label": "Slot writes",
                                             "published_before": 91, "published_after": 0,
                                             "ours": {"lazy": {"nonfinal": 0, "final": 2}}, "why": "x"}]},
        "orchard_like": {"workload": wl, "reps": 1, "order": ["lazy"],
                         "strategies": {"lazy": dict(strat, requests_per_s={"mean": 1.0, "runs": [1.0]},
                                                     ratio_vs_forwarder=None)},
                         "verdict": {"reproduced": None, "regression_pct": None, "explanation": "x",
                                     "explaining_counter": None, "published_regression_pct": [12, 13]}},
        "steady_state": {"workload": wl, "reps": 1,
                         "valgrind": {"available": False, "tool": "cachegrind", "calls": 0, "scale": 1.0},
                         "strategies": {"lazy": dict(strat, ns_per_call={"median": 1.0, "runs": [1.0]},
                                                     instructions_per_call=None, why="x",
                                                     ratio_vs_notier={"ns_per_call": None,
                                                                      "instructions_per_call": None})}},
    }


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA) as f:
        return json.load(f)


def test_minimal_document_is_valid(schema):
    assert schema_check.validate(_minimal_doc(), schema) == []


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d.pop("orchard_like"), "missing required key 'orchard_like'"),
    (lambda d: d.__setitem__("schema_version", 2), "not one of"),
    (lambda d: d["seed_vtable_test"]["strategies"]["lazy"]["counters"]["slot_writes"].pop("total"),
     "missing required key 'total'"),
    (lambda d: d["steady_state"]["strategies"]["lazy"].pop("ratio_vs_notier"),
     "missing required key 'ratio_vs_notier'"),
    (lambda d: d.__setitem__("surprise", 1), "unexpected key"),
    (lambda d: d["machine"].__setitem__("nproc", 0), "below minimum"),
])
def test_mutations_are_rejected(schema, mutate, fragment):
    d = copy.deepcopy(_minimal_doc())
    mutate(d)
    errs = schema_check.validate(d, schema)
    assert any(fragment in e for e in errs), errs
