# expect: key 'classes': missing required key
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
