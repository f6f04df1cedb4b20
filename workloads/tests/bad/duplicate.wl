# expect: key 'classes': duplicate key (first set on line 7)
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
classes = 20
