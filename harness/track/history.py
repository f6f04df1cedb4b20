"""The performance history: one SQLite file (default results/history.sqlite).
The schema is versioned by PRAGMA user_version and documented in SPEC.md
"Performance history"; opening an older file upgrades it in one transaction
after copying it to FILE.vN.bak, so a history is never lost.  Every write of
a run is one transaction: an error leaves the file as it was."""

import json
import os
import shutil
import sqlite3

from . import suite as S

SCHEMA_VERSION = 2


class HistoryError(Exception):
    """Unreadable, corrupt or foreign history, or an unknown run (exit 2)."""


# Each entry upgrades from version i to i + 1.  Version 1 is the first
# released layout (runs + samples); version 2 adds run provenance (source,
# job, label, machine fingerprint, implementation version, environment,
# injected arguments), sample kind/direction/unit/phase, and the per-run
# benchmark, counter and function tables the diagnosis needs.
MIGRATIONS = [
    # 0 -> 1
    ["""CREATE TABLE runs (
          id INTEGER PRIMARY KEY,
          suite TEXT NOT NULL,
          revision TEXT NOT NULL,
          dirty INTEGER NOT NULL,
          implementation TEXT,
          machine_json TEXT NOT NULL,
          config_json TEXT NOT NULL,
          started_at TEXT NOT NULL,
          finished_at TEXT NOT NULL)""",
     """CREATE TABLE samples (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          benchmark TEXT NOT NULL,
          metric TEXT NOT NULL,
          rep INTEGER NOT NULL,
          value REAL NOT NULL)""",
     "CREATE INDEX samples_run ON samples(run_id, benchmark, metric)"],
    # 1 -> 2
    ["ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT 'run'",
     "ALTER TABLE runs ADD COLUMN job TEXT",
     "ALTER TABLE runs ADD COLUMN label TEXT",
     "ALTER TABLE runs ADD COLUMN machine_fingerprint TEXT",
     "ALTER TABLE runs ADD COLUMN implementation_version TEXT",
     "ALTER TABLE runs ADD COLUMN environment_json TEXT NOT NULL DEFAULT '{}'",
     "ALTER TABLE runs ADD COLUMN extra_args_json TEXT NOT NULL DEFAULT '[]'",
     "ALTER TABLE samples ADD COLUMN kind TEXT",
     "ALTER TABLE samples ADD COLUMN better TEXT",
     "ALTER TABLE samples ADD COLUMN unit TEXT",
     "ALTER TABLE samples ADD COLUMN phase TEXT NOT NULL DEFAULT 'main'",
     """CREATE TABLE benchmarks (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          benchmark TEXT NOT NULL,
          runner TEXT NOT NULL,
          deterministic INTEGER NOT NULL,
          commands_json TEXT NOT NULL,
          workload_json TEXT,
          PRIMARY KEY (run_id, benchmark))""",
     """CREATE TABLE counters (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          benchmark TEXT NOT NULL,
          name TEXT NOT NULL,
          value REAL NOT NULL,
          PRIMARY KEY (run_id, benchmark, name))""",
     """CREATE TABLE functions (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          benchmark TEXT NOT NULL,
          function TEXT NOT NULL,
          instructions INTEGER NOT NULL,
          PRIMARY KEY (run_id, benchmark, function))""",
     "CREATE INDEX runs_revision ON runs(revision)",
     "PYTHON:fill_v2"],
]


def _fill_v2(db):
    """Data part of 1 -> 2: fingerprints from the stored machine JSON,
    sample kinds from the metric catalogue, a benchmarks row per benchmark."""
    from .measure import fingerprint_of
    for rid, mj in db.execute("SELECT id, machine_json FROM runs").fetchall():
        try:
            m = json.loads(mj)
        except ValueError:
            m = {}
        db.execute("UPDATE runs SET machine_fingerprint = ? WHERE id = ?",
                   (m.get("fingerprint") or fingerprint_of(m), rid))
    for (metric,) in db.execute("SELECT DISTINCT metric FROM samples").fetchall():
        kind, better, unit = S.metric_info(metric)
        db.execute("UPDATE samples SET kind = ?, better = ?, unit = ? WHERE metric = ?",
                   (kind, better, unit, metric))
    db.execute("""INSERT INTO benchmarks (run_id, benchmark, runner, deterministic, commands_json)
                  SELECT DISTINCT run_id, benchmark, 'unknown', 0, '[]' FROM samples""")


def _connect(path):
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        raise HistoryError("%s: not a tk-track history (SQLite says: %s)" % (path, e))
    return db, version, tables


def open_history(path, create=True):
    """Opens (and if needed creates or upgrades) the history at path."""
    if not os.path.exists(path):
        if not create:
            raise HistoryError("%s: no history here (record one with `tk-track run`)" % path)
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
    db, version, tables = _connect(path)
    if version == 0 and tables:
        db.close()
        raise HistoryError("%s: an SQLite file with tables %s but no tk-track schema version; "
                           "not touching it" % (path, ", ".join(sorted(tables))))
    if version > SCHEMA_VERSION:
        db.close()
        raise HistoryError("%s: schema version %d is newer than this tk-track's (%d); upgrade tierkit"
                           % (path, version, SCHEMA_VERSION))
    if version and not {"runs", "samples"} <= tables:
        db.close()
        raise HistoryError("%s: schema version %d but tables %s are missing: corrupt history"
                           % (path, version, ", ".join(sorted({"runs", "samples"} - tables))))
    if version < SCHEMA_VERSION:
        if version > 0:
            db.close()
            shutil.copy2(path, "%s.v%d.bak" % (path, version))
            db, _, _ = _connect(path)
        migrate(db, version)
    if version:
        try:
            bad = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            bad = str(e)
        if bad != "ok":
            db.close()
            raise HistoryError("%s: corrupt history (SQLite quick_check: %s)" % (path, bad))
    db.execute("PRAGMA foreign_keys = ON")
    return History(db, path)


def migrate(db, start):
    """Applies MIGRATIONS[start:] in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for v in range(start, SCHEMA_VERSION):
            for stmt in MIGRATIONS[v]:
                if stmt == "PYTHON:fill_v2":
                    _fill_v2(db)
                else:
                    db.execute(stmt)
        db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
        db.execute("COMMIT")
    except Exception:
        db.execute("ROLLBACK")
        raise


class History:
    def __init__(self, db, path):
        self.db = db
        self.path = path

    def close(self):
        self.db.close()

    # ---- writing -------------------------------------------------------------------------
    def add_run(self, doc):
        """Stores one run document (measure.run_document); returns its id."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            impl = doc.get("implementation") or {}
            cfg = {b: v.get("config") for b, v in doc["benchmarks"].items()}
            cur = db.execute(
                """INSERT INTO runs (suite, revision, dirty, implementation, machine_json, config_json,
                   started_at, finished_at, source, job, label, machine_fingerprint,
                   implementation_version, environment_json, extra_args_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (doc["suite"], doc["revision"], int(bool(doc.get("dirty"))), impl.get("name"),
                 json.dumps(doc["machine"], sort_keys=True), json.dumps(cfg, sort_keys=True),
                 doc["started_at"], doc["finished_at"], doc.get("source", "run"), doc.get("job"),
                 doc.get("label"), doc["machine"].get("fingerprint"), impl.get("version"),
                 json.dumps(doc.get("environment") or {}, sort_keys=True),
                 json.dumps(doc.get("extra_args") or [])))
            rid = cur.lastrowid
            for name, b in doc["benchmarks"].items():
                db.execute("""INSERT INTO benchmarks (run_id, benchmark, runner, deterministic,
                              commands_json, workload_json) VALUES (?, ?, ?, ?, ?, ?)""",
                           (rid, name, b["runner"], int(bool(b.get("deterministic"))),
                            json.dumps(b.get("commands") or []), json.dumps(b.get("workload"))))
                for m, md in b["metrics"].items():
                    phases = md.get("phases") or ["main"] * len(md["samples"])
                    db.executemany(
                        """INSERT INTO samples (run_id, benchmark, metric, rep, value, kind, better, unit, phase)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        [(rid, name, m, i, float(v), md["kind"], md["better"], md["unit"], ph)
                         for i, (v, ph) in enumerate(zip(md["samples"], phases))])
                db.executemany("INSERT INTO counters (run_id, benchmark, name, value) VALUES (?, ?, ?, ?)",
                               [(rid, name, k, float(v)) for k, v in (b.get("counters") or {}).items()])
                db.executemany("""INSERT INTO functions (run_id, benchmark, function, instructions)
                                  VALUES (?, ?, ?, ?)""",
                               [(rid, name, k, int(v)) for k, v in (b.get("functions") or {}).items()])
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        return rid

    # ---- reading -------------------------------------------------------------------------------
    def run_ids(self, revision=None, suite=None, source=None):
        q = "SELECT id FROM runs WHERE 1"
        args = []
        for col, v in (("revision", revision), ("suite", suite), ("source", source)):
            if v is not None:
                q += " AND %s = ?" % col
                args.append(v)
        return [r[0] for r in self.db.execute(q + " ORDER BY id", args)]

    def runs(self):
        """Every run, oldest first: [{id, suite, revision, dirty, source, job, label, started_at,
        machine_fingerprint}]."""
        cols = ["id", "suite", "revision", "dirty", "source", "job", "label", "started_at",
                "machine_fingerprint", "implementation", "implementation_version"]
        return [dict(zip(cols, r)) for r in self.db.execute(
            "SELECT %s FROM runs ORDER BY id" % ", ".join(cols))]

    def load(self, run_id):
        """The run document of run_id (the same shape tk-track run writes)."""
        row = self.db.execute(
            """SELECT suite, revision, dirty, implementation, implementation_version, machine_json,
                      config_json, started_at, finished_at, source, job, label, environment_json,
                      extra_args_json FROM runs WHERE id = ?""", (run_id,)).fetchone()
        if row is None:
            raise HistoryError("%s: no run with id %s" % (self.path, run_id))
        (suite, rev, dirty, impl, implv, mj, cj, st, fi, src, job, label, env, extra) = row
        cfg = json.loads(cj)
        benches = {}
        for name, runner, det, cmds, wl in self.db.execute(
                "SELECT benchmark, runner, deterministic, commands_json, workload_json FROM benchmarks "
                "WHERE run_id = ? ORDER BY rowid", (run_id,)):
            benches[name] = {"runner": runner, "deterministic": bool(det), "metrics": {}, "counters": {},
                             "functions": {}, "commands": json.loads(cmds),
                             "config": cfg.get(name) if isinstance(cfg, dict) else None,
                             "workload": json.loads(wl) if wl else None}
        for name, m, v, kind, better, unit, ph in self.db.execute(
                "SELECT benchmark, metric, value, kind, better, unit, phase FROM samples "
                "WHERE run_id = ? ORDER BY benchmark, metric, rep", (run_id,)):
            b = benches.setdefault(name, {"runner": "unknown", "deterministic": False, "metrics": {},
                                          "counters": {}, "functions": {}, "commands": []})
            md = b["metrics"].setdefault(m, {"kind": kind, "better": better, "unit": unit,
                                             "samples": [], "phases": []})
            md["samples"].append(v)
            md["phases"].append(ph)
        for name, k, v in self.db.execute("SELECT benchmark, name, value FROM counters WHERE run_id = ?",
                                          (run_id,)):
            if name in benches:
                benches[name]["counters"][k] = v
        for name, k, v in self.db.execute(
                "SELECT benchmark, function, instructions FROM functions WHERE run_id = ?", (run_id,)):
            if name in benches:
                benches[name]["functions"][k] = v
        return {"schema_version": 1, "tool": "tk-track", "kind": "run", "run_id": run_id,
                "source": src, "job": job, "suite": suite, "revision": rev, "dirty": bool(dirty),
                "label": label, "extra_args": json.loads(extra),
                "implementation": {"name": impl, "version": implv}, "environment": json.loads(env),
                "machine": json.loads(mj), "started_at": st, "finished_at": fi, "benchmarks": benches}

    def series(self, benchmark, metric):
        """[{run_id, revision, started_at, source, label, median, samples}] oldest
        first: main-phase samples of runs without injected arguments."""
        import statistics
        rows = {}
        for rid, rev, st, src, label, v in self.db.execute(
                """SELECT r.id, r.revision, r.started_at, r.source, r.label, s.value FROM samples s
                   JOIN runs r ON r.id = s.run_id WHERE s.benchmark = ? AND s.metric = ?
                   AND s.phase = 'main' AND r.extra_args_json = '[]' ORDER BY r.id, s.rep""",
                (benchmark, metric)):
            rows.setdefault(rid, [rid, rev, st, src, label, []])[5].append(v)
        return [{"run_id": r[0], "revision": r[1], "started_at": r[2], "source": r[3], "label": r[4],
                 "median": statistics.median(r[5]), "samples": r[5]} for r in rows.values()]

    def metrics(self):
        """[(benchmark, metric, kind, better, unit)] present in the history."""
        return list(self.db.execute(
            "SELECT DISTINCT benchmark, metric, kind, better, unit FROM samples ORDER BY benchmark, metric"))

    def noise_floor(self, benchmark, metric, fingerprint=None, extra_args=False):
        """Noise floor of a noisy metric learned from repeated runs of the same
        revision: the largest relative spread, (max - min) / median, of the
        run medians of one revision on this machine (None below 2 runs).
        Runs with injected arguments are left out."""
        import statistics
        q = """SELECT r.id, r.revision, s.value FROM samples s JOIN runs r ON r.id = s.run_id
               WHERE s.benchmark = ? AND s.metric = ? AND s.phase = 'main' AND r.dirty = 0
               AND r.extra_args_json = '[]'"""
        args = [benchmark, metric]
        if fingerprint:
            q += " AND r.machine_fingerprint = ?"
            args.append(fingerprint)
        per_run = {}
        for rid, rev, v in self.db.execute(q, args):
            per_run.setdefault((rev, rid), []).append(v)
        by_rev = {}
        for (rev, rid), vals in per_run.items():
            by_rev.setdefault(rev, []).append(statistics.median(vals))
        spreads = [(max(m) - min(m)) / statistics.median(m) * 100.0
                   for m in by_rev.values() if len(m) >= 2 and statistics.median(m)]
        if not spreads:
            return None
        return {"pct": max(spreads), "revisions": len(spreads),
                "runs": sum(len(m) for m in by_rev.values() if len(m) >= 2)}
