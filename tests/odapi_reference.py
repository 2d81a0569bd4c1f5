"""Where the TF Object Detection API's own pipeline configs are, for tests that must read them.

They are not copied into this repository (they are the OD API's text): the tests look for the
workspace's reference folder beside the repository (``../shared/reference/odapi_configs``), or
for the folder named by ``ODAPI_REFERENCE_CONFIGS``, and are skipped where neither exists.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(
    os.environ.get("ODAPI_REFERENCE_CONFIGS",
                   REPO_ROOT.parent / "shared" / "reference" / "odapi_configs")
)
REFERENCE_CONFIGS = sorted(REFERENCE_DIR.glob("*.config")) if REFERENCE_DIR.is_dir() else []
