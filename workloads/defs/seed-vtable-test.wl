# seed-vtable-test: a replica of the test behind the PR #125359 counter table
# (abstract base class, derived types, a factory method, hot loops calling
# the virtuals through the base, TieredPGO on).  Runs in deterministic mode:
# one thread, manual clock (clock_advance + drain), so every counter is
# exactly reproducible run to run.
name = seed-vtable-test
description = PR #125359 vtable backpatch test: abstract base, derived types, factory, hot loops, TieredPGO
seed = 125359
mode = deterministic

# 1 abstract base, 4 derived types overriding its 4 abstract virtuals, each
# adding one virtual of its own, and 3 grandchildren that override or
# inherit those (inherited slots start at the temporary entry point).
classes = 8
depth = 1:0.125, 2:0.5, 3:0.375
abstract_roots = yes
root_virtuals = 4
derived_virtuals = 1
nonvirtuals_per_type = 0
inherited_share = 0.5
interfaces = 0
factory = yes                 # Base.Create() picks the derived type per iteration

# the hot loop: 6 call sites on Base's slots, every concrete type a receiver
sites = 6
site_polymorphism = 4-7:1
calls_per_method = 0          # virtual bodies are leaves
body_work = 10-20
handlers = 1
handler_sites = 6
calls_per_request = 200       # calls per loop iteration (plus the factory call)
call_tree_budget = 1

# 20 rounds of 5 iterations, 50 ms of manual clock after each (1 s total,
# well past the 100 ms delay and two counting windows for PGO)
det_rounds = 20
det_requests_per_round = 5
det_advance_ms = 50
det_measure_requests = 50

config.TieredPGO = 1
