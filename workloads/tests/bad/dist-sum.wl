# expect: key 'depth': probabilities sum to 0.950000000, not 1
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
depth = 1:0.25, 2:0.35, 3:0.35
