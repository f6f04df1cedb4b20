# expect: key 'classes': 'ten' is not an integer
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = ten
