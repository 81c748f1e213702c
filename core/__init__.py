"""ftsuite's shared fine-tuning core: configs, data, task kinds, training, evaluation, artifacts
and inference. Importing it loads no model and touches no network."""

from .config import DataConfig, ExperimentConfig, LoraConfig, ModelConfig, TrainConfig, ftsuite_home, load_config
from .errors import ConfigError, DataError, ExportMismatchError, ModelNotFoundError, SuiteError

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "LoraConfig",
    "ModelConfig",
    "TrainConfig",
    "ftsuite_home",
    "load_config",
    "SuiteError",
    "DataError",
    "ConfigError",
    "ModelNotFoundError",
    "ExportMismatchError",
]
