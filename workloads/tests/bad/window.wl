# expect: key 'window_ms': 5000 exceeds measure_ms (3000)
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
window_ms = 5000
