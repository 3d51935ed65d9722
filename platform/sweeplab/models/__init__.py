"""PyTorch models and their registry.

Importing this package registers every shipped model. Add a model by writing a module here
with an args schema and a builder decorated with :func:`register_model`, and import it below.
"""

from sweeplab.models._registry import MODELS, ModelSpec, build_model, register_model

# Registration side effects: each module adds its models to MODELS.
from sweeplab.models import _linear, _mlp  # noqa: E402,F401  (logreg, softmax, mlp)

__all__ = ["MODELS", "ModelSpec", "build_model", "register_model"]
