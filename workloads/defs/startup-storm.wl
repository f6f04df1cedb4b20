# startup-storm: many methods reach the call-count threshold together
# (§5 W3), then new subclasses inheriting already-counted methods arrive
# (their slots must be discovered and patched).  Scaled for 2 cores.
name = startup-storm
description = Many methods promoted at once; late subclasses inherit counted methods
seed = 50000
mode = threaded

classes = 1500                # §5: 5,000 classes / 50,000 methods (--scale 3.3)
interfaces = 0
root_virtuals = 6
derived_virtuals = 2
nonvirtuals_per_type = 2
depth = 1:0.3, 2:0.4, 3:0.3
inherited_share = 0.8         # mostly inherited slots

sites = 4000
site_polymorphism = 1:0.8, 2-4:0.2
direct_call_share = 0.2
calls_per_method = 1-2
body_work = 10-30

handlers = 400
handler_sites = 8
handler_zipf = 0              # uniform: every route, so every method, is hot
calls_per_request = 600
call_tree_budget = 50

threads = 4
warmup_ms = 2000
measure_ms = 3000
quiet_gap_ms = 200
burst_ms = 2000
burst_handlers = 50
burst_classes = 300           # §5: 1,000 late subclasses
burst_share = 0.5
measure2_ms = 3000
window_ms = 500

config.TieredPGO = 0
