"""PyTorch models and their registry.

Importing this package registers every shipped model. Add a model by writing a module here
with an args schema and a builder decorated with :func:`register_model`, and import it below.
"""

# Registration side effects: each module adds its models to MODELS.
from sweeplab.models import (  # noqa: E402,F401  (logreg, softmax, mlp)  # noqa: E402,F401
    _alexnet,
    _inception,
    _lenet,
    _linear,
    _mlp,
    _resnet,
    _sliding,
    _vgg,
    _vision,  # noqa: E402,F401  (grid_detector, unet, siamese_encoder, feature_net)
)
from sweeplab.models._detection import (
    GridDetector,
    decode_grid,
    decode_landmarks,
    decode_localization,
)
from sweeplab.models._registry import MODELS, ModelSpec, build_model, register_model
from sweeplab.models._siamese import Encoder, PairClassifier, squared_distances
from sweeplab.models._sliding import WindowClassifier
from sweeplab.models._summary import describe, parse_input_shape
from sweeplab.models._transfer import (
    CHECKPOINT_ARTIFACT,
    LEGACY_CHECKPOINT_ARTIFACT,
    apply_transfer,
    output_layer_name,
    read_state_dict,
    save_checkpoint,
)
from sweeplab.models._unet import UNet
from sweeplab.models._vision import FeatureNet

__all__ = [
    "CHECKPOINT_ARTIFACT",
    "LEGACY_CHECKPOINT_ARTIFACT",
    "MODELS",
    "Encoder",
    "FeatureNet",
    "GridDetector",
    "ModelSpec",
    "PairClassifier",
    "UNet",
    "WindowClassifier",
    "apply_transfer",
    "build_model",
    "decode_grid",
    "decode_landmarks",
    "decode_localization",
    "describe",
    "parse_input_shape",
    "read_state_dict",
    "output_layer_name",
    "register_model",
    "save_checkpoint",
    "squared_distances",
]
