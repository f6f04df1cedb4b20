# expect: key 'factory': 'maybe' is not a boolean (yes/no)
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
factory = maybe
