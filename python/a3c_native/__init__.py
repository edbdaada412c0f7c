"""a3c_native: A3C (Mnih et al. 2016) on CPU with a C++ core and real thread-level Hogwild."""

from __future__ import annotations

import os as _os

# No hidden thread pools beside the actor-learners: pin NumPy's BLAS to one thread
# unless the user chose otherwise (must happen before numpy is first imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

from . import _core  # noqa: E402

__version__ = _core.__version__

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from .config import A3CConfig  # noqa: E402
from .errors import CheckpointError, ConfigError, EnvError  # noqa: E402
from .evaluate import EvalResult, evaluate  # noqa: E402
from .networks import Network, TensorInfo  # noqa: E402
from .policy import Policy  # noqa: E402
from .results import EpisodeRecord, Progress, TrainResult  # noqa: E402
from .train import train  # noqa: E402
from .learning import LearningReport, learn  # noqa: E402

__all__ = [
    "A3CConfig",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "EnvError",
    "EpisodeRecord",
    "EvalResult",
    "LearningReport",
    "Network",
    "Policy",
    "Progress",
    "TensorInfo",
    "TrainResult",
    "__version__",
    "evaluate",
    "learn",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
