# expect: key 'name': 'a b' may contain only letters, digits
name = a b
seed = 1
mode = threaded
classes = 10
handlers = 2
calls_per_request = 10
