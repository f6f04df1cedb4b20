# expect: key 'config.Mode': Mode is set by tk-bench
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
config.Mode = threaded
