# expect: key 'churn_types': churn_types needs churn_ms > 0 (the churn period)
name = bad
seed = 1
mode = threaded
handlers = 2
calls_per_request = 10
classes = 10
interface_share = 0.5
interfaces = 2
churn_types = 4
