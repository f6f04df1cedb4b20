# expect: key 'depth': depth 1 (root classes) needs a non-zero share
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
depth = 2:0.5, 3:0.5
