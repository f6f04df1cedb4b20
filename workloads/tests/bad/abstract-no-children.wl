# expect: abstract roots need classes at depth 2
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
abstract_roots = yes
