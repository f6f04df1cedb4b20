# steady-state: the cost of a call once tiering has converged (§5 W4).
# Deterministic: a warmup of rounds with manual clock drives methods to the
# final tier; the measured phase is a timed single-thread loop.  Used for
# ns/call and, under valgrind, instructions/call (tk-bench --calls N).
name = steady-state
description = Converged dispatch cost; compare each strategy against notier
seed = 4444
mode = deterministic

classes = 700                 # about 5,000 methods (§5)
interfaces = 20
interface_methods = 2
root_virtuals = 4
derived_virtuals = 2
nonvirtuals_per_type = 2
depth = 1:0.3, 2:0.4, 3:0.25, 4:0.05
inherited_share = 0.5
interface_share = 0.3

sites = 1200
site_polymorphism = 1:0.80, 2-4:0.15, 5-16:0.05
direct_call_share = 0.2
interface_call_share = 0.15
calls_per_method = 1-2
body_work = 2-6               # small bodies: dispatch dominates

handlers = 100
handler_sites = 6
handler_zipf = 1.2            # hot set
calls_per_request = 300
call_tree_budget = 60

threads = 1
det_warmup = all-handlers    # every handler once per round: the Zipf tail converges too
det_rounds = 100
det_advance_ms = 100
det_measure_requests = 15000         # ~4.5M calls timed (~0.2 s)
# after the rounds, call every (site, receiver) whose method has not yet run
# final code, 64 calls each, then advance the clock and drain, until every
# reached method runs final code (at most 50 rounds; tk-bench reports the
# rounds and the methods still not final, which must be 0 for the reference)
det_converge = 50
