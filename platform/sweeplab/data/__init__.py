"""Data: sources, splits, the split manifest, normalization and the tensors trials train on.

A project's ``data:`` section (:class:`DataConfig`)::

    data:
      source: sklearn:digits              # sklearn:{digits,breast_cancer,iris,wine}, csv:PATH, parquet:PATH
      splits: {train: 0.8, train_dev: 0.05, dev: 0.075, test: 0.075}   # fractions or counts
      stratify: true
      seed: 0
      image_size: [32, 32]                # optional: resize every image once (bilinear)
      classes: [0, 1, 2, 3, 4]            # optional: keep these classes, renumbered 0..k-1

    data:                                 # one of two disjoint halves, every image degraded
      source: sklearn:digits
      part: {of: 2, index: 1, seed: 0}    # another project takes index 0 (same of and seed)
      degrade: {degradations: [noise], strength: 0.6, seed: 0}
      splits: {train: 50, dev: 0.5, test: 0.5}   # 50 training images, the rest 50 / 50

    data:                                 # the user's own images: root/<class>/*.png|jpg|...
      source: images:photos               # grayscale if every image is, else RGB; values in [0, 1]
      image_size: [64, 64]                # required unless all images have one size
      splits: {train: 0.8, dev: 0.1, test: 0.1}

    data:                                 # the user's own table; paths relative to the project file
      source: csv:data/patients.csv
      label: outcome
      features: [age, bmi, glucose]       # default: every column but the label (and domain)
      splits: {train: 1.0, dev: 100, test: 100}   # counts first, fractions share the rest

    data:                                 # multi-label (task: multilabel): several 0/1 columns
      source: csv:data/street.csv
      label: [stop_sign, car, pedestrian] # a blank cell = not labeled for that label (NaN)
      splits: {train: 0.8, dev: 0.1, test: 0.1}

A target domain (data mismatch; the course's web versus phone photos, "option 2"): dev and
test come from the target only; the training pool is every source example plus the target's
train part, and train_dev is carved from that pool::

    data:
      source: sklearn:digits
      target:
        derive: {degradations: [blur, noise], strength: 1.0, seed: 0}
        size: 600                         # examples that become the target (count or fraction)
        splits: {train: 200, dev: 200, test: 200}
      splits: {train: 0.95, train_dev: 0.05}

    data:
      source: parquet:photos.parquet
      label: label
      target: {domain_column: device, value: phone, splits: {train: 0.5, dev: 0.25, test: 0.25}}
      splits: {train: 0.95, train_dev: 0.05}

Sizes are fractions in (0, 1] or counts (integers >= 1); fractions must sum to 1; 0 or an
absent key means no such split. The section's schemas live in :mod:`sweeplab.config.data`
(re-exported here); errors in the section's form are ``ValueError``s inside pydantic
validation (the config loader adds file and line). Names that only this package's registries
know (the data set, ``generated:NAME``, degradations) are checked by
:func:`check_data_config` (:func:`check_project_data` on a loaded project file, which
:func:`check_project_data` runs). Errors found in the data are
:class:`~sweeplab.errors.UserError` with ``key`` set and the data file named in the message.

Order of operations: source -> ``part`` -> ``classes`` -> ``degrade`` (every example, scaled
by the whole source's value range) -> derived ``target`` -> ``image_size`` -> splits ->
normalization with train statistics. Each changes the data's fingerprint, so ``--resume``
refuses a split manifest built before ``part`` or ``degrade`` changed.

Flow: ``load_dataset`` -> ``build_splits`` (a :class:`SplitManifest`, saved beside the study)
-> ``prepare_tensors`` (once per sweep, shared by every trial).
"""

from sweeplab.config.data import (
    DataConfig,
    DeriveConfig,
    PartConfig,
    SplitsConfig,
    StyleImagesConfig,
    TargetConfig,
    TargetSplitsConfig,
)
from sweeplab.data._allocate import nested_order
from sweeplab.data._check import check_data_config, check_project_data
from sweeplab.data._dataset import Dataset, fingerprint, row_hashes
from sweeplab.data._degrade import DEGRADATIONS, Degradation, degrade, degrade_all, derive_target
from sweeplab.data._generated import (
    SHAPE_CLASSES,
    TRIANGLE_LANDMARKS,
    DetectionSet,
    IdentitySet,
    LandmarkSet,
    SegmentationSet,
    identities,
    shapes_detection,
    shapes_landmarks,
    shapes_segmentation,
    stripes,
)
from sweeplab.data._images import filter_classes, load_image_folder, resize_images
from sweeplab.data._manifest import SplitManifest
from sweeplab.data._normalize import Normalizer
from sweeplab.data._part import part_indices, take_part
from sweeplab.data._quality import quality_tags
from sweeplab.data._sources import DATASETS, load_dataset
from sweeplab.data._splits import build_splits
from sweeplab.data._task_data import (
    GENERATED,
    generator_arguments,
    identity_splits,
    load_style_image,
    load_task_data,
    split_task_data,
)
from sweeplab.data._tensors import SplitTensors, prepare_tensors

__all__ = [
    "SHAPE_CLASSES",
    "DetectionSet",
    "IdentitySet",
    "LandmarkSet",
    "SegmentationSet",
    "identities",
    "shapes_detection",
    "shapes_landmarks",
    "shapes_segmentation",
    "stripes",
    "DATASETS",
    "DEGRADATIONS",
    "DataConfig",
    "Dataset",
    "Degradation",
    "DeriveConfig",
    "Normalizer",
    "PartConfig",
    "SplitManifest",
    "SplitTensors",
    "SplitsConfig",
    "StyleImagesConfig",
    "TargetConfig",
    "TargetSplitsConfig",
    "build_splits",
    "nested_order",
    "check_data_config",
    "check_project_data",
    "degrade",
    "degrade_all",
    "derive_target",
    "filter_classes",
    "fingerprint",
    "load_dataset",
    "load_image_folder",
    "part_indices",
    "prepare_tensors",
    "quality_tags",
    "resize_images",
    "row_hashes",
    "take_part",
    "GENERATED",
    "TRIANGLE_LANDMARKS",
    "generator_arguments",
    "identity_splits",
    "load_style_image",
    "load_task_data",
    "split_task_data",
]
