"""Run the package as an installed tool runs it: with bytecode.

pip compiles .pyc files at install time. An editable checkout only gets them when a run may write them,
which PYTHONDONTWRITEBYTECODE (set on some machines) forbids: every process would then compile the
package again and the benchmarks would time the compiler. The benchmarks that start katib-gitops call
``with_bytecode()`` first; what they start inherits the environment, so both sides of a comparison run alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "generator"


def with_bytecode() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(GENERATOR)], check=False)
