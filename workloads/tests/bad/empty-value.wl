# expect: key 'classes': empty value
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes =
