import os
import sys

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HARNESS)
sys.path.insert(0, HARNESS)

BIN = os.path.join(ROOT, "build", "bin", "tk-bench")
FAKE = os.path.join(ROOT, "build", "lib", "libtk_fake_driver.so")
REF = os.path.join(ROOT, "build", "lib", "libtk_ref_driver.so")
SCHEMA = os.path.join(HARNESS, "schema", "reproduce.schema.json")
