# expect: key 'tier0_cost': 0 out of range [0.01, 100]
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
tier0_cost = 0
