# megamorphic: interface-heavy dispatch with wide receiver sets (§5 W2),
# scaled for 2 cores.  Receiver-sequence rotation (phase A uniform, B Zipf,
# C single type, each rotation_ms long) and collectible-type churn (every
# churn_ms, unload churn_types implementing leaf types and load fresh copies
# of the previous batch) model §5 W2's "rotation" and "collectible types"
# rows (SPEC.md, "Workloads", "Receiver rotation and type churn").
# §5 W2 churns every 3 s; this 10 s run churns every 1.5 s so that every
# run has several events (an adaptation to the shorter run, not a figure).
name = megamorphic
description = Interface dispatch with megamorphic sites over many implementing types
seed = 64032
mode = threaded

classes = 512
interfaces = 16               # §5: 64 x 32 methods (--scale 4 for 64)
interface_methods = 16
root_virtuals = 4
derived_virtuals = 2
nonvirtuals_per_type = 1
depth = 1:0.2, 2:0.3, 3:0.25, 4:0.15, 5:0.07, 6:0.03
inherited_share = 0.7         # overrides on 30% of slots
interface_share = 1.0
interfaces_per_class = 1-4

sites = 256                   # 16 hot sites per hot interface
site_polymorphism = 1:0.3, 2-4:0.2, 5-16:0.2, 17-64:0.2, 65-150:0.1
interface_call_share = 0.9
direct_call_share = 0
fanout_interfaces = 1         # "4 sites forced to 256 receivers"
fanout_receivers = 200-256
fanout_per_handler = 0-1
calls_per_method = 1-2
body_work = 10-30

handlers = 16
handler_sites = 8
handler_zipf = 0.8
calls_per_request = 2000
call_tree_budget = 100

threads = 4
warmup_ms = 2000
measure_ms = 4000
quiet_gap_ms = 300
burst_ms = 1000
burst_handlers = 4
burst_classes = 32
burst_share = 0.5
measure2_ms = 3000
window_ms = 1000

# rotation and churn (durations scale with --scale/--quick)
rotation_ms = 1000            # A uniform, B Zipf(receiver_zipf), C single type
receiver_zipf = 1.0
churn_ms = 1500               # §5 W2: 3 s
churn_types = 16              # §5 W2: 16 types unloaded and 16 loaded

config.TieredPGO = 0
