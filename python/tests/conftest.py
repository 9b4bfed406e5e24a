import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# In CI the PyTorch tests must run, not skip: a missing torch is an error there.
if os.environ.get("CI") == "true":
    import torch  # noqa: F401
