# expect: key 'fanout_receivers': upper bound 60 exceeds classes (10)
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
interfaces = 4
fanout_interfaces = 1
fanout_receivers = 20-60
