# expect: key 'site_polymorphism': label '3-6' overlaps an earlier label
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
site_polymorphism = 1-4:0.5, 3-6:0.5
