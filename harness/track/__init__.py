"""tk-track: regression tracking for tierkit (README "Tracking performance in
CI", SPEC.md "Performance history").  Runs binaries, reads their JSON, keeps
a SQLite history, compares, gates, bisects and reports.  One concept per
module: suite, measure, history, stats, compare, gate, bisect, report, cli."""
