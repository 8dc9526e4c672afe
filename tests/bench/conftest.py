"""The bench modules import each other by their file names (`from _common import …`), as
they do when run as scripts from bench/: the same directory on the path here."""

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)
