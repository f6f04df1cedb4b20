# expect: key 'interface_call_share': interface call sites need interfaces > 0
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
interface_call_share = 0.5
