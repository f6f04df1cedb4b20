# expect: key 'mode': 'fast' is not one of threaded, deterministic
name = bad
seed = 1
mode = fast
classes = 10
handlers = 2
calls_per_request = 10
