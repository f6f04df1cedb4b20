# expect: key 'site_polymorphism': label 'x' is not an integer or range A-B
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
site_polymorphism = 1:0.5, x:0.5
