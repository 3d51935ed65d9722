"""sweeplab: hyperparameter sweeps of PyTorch models under Optuna or Ray Tune, tracked in MLflow.

Heavy libraries (torch, optuna, mlflow, ray) are imported by the subpackages that use them,
never here, so ``sweeplab --help`` starts fast.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
