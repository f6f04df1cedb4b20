# expect: key 'inherited_share': 1.2 out of range [0, 1]
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
inherited_share = 1.2
