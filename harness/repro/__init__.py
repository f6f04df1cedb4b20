"""The pure logic of `make reproduce` (harness/reproduce.py does the I/O), one
concept per module:

  published    the published figures and the names compared (strategies, counters,
               the as-merged row of PR #124664)
  runs         measures of tk-bench runs and their repetitions: order, counters,
               throughput, body tier mix, spread, ratios
  seed         seed-vtable-test beside the PR #125359 counter table
  orchard      orchard-like ratios against forwarder, the regression verdict, the
               counters that explain it, why the as-merged row differs
  steady       steady-state ns/call and instructions/call against notier
  steady_time  time to steady state (tk-bench's definition) and its text
  timeline     methods at each tier over a run, from its event trace
  tables       text and GitHub-markdown tables
  sensitivity  make reproduce-sensitivity: grid, per-point summary, brackets, table

The package namespace re-exports every public name (reproduce.py and the
tests use `import repro as L`)."""

from .published import *  # noqa: F401,F403
from .runs import *  # noqa: F401,F403
from .seed import *  # noqa: F401,F403
from .orchard import *  # noqa: F401,F403
from .steady import *  # noqa: F401,F403
from .tables import *  # noqa: F401,F403
from .steady_time import *  # noqa: F401,F403
from .sensitivity import *  # noqa: F401,F403
from .timeline import *  # noqa: F401,F403
