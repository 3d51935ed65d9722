"""Configuration: YAML files parsed once, at the boundary, into typed validated objects.

``sweeplab.config`` itself is light (the YAML loader and the base schema); the project
schema, which composes the data, model and training sections, is in
:mod:`sweeplab.config.project`, the sections' schemas in :mod:`sweeplab.config.data` and
:mod:`sweeplab.config.train`. The package imports no other sweeplab package but
``sweeplab.errors`` and ``sweeplab.registry`` (an import-linter contract in pyproject.toml):
checks that need another package's registries live in that package, e.g.
:func:`sweeplab.data.check_data_config`.
"""

from sweeplab.config._base import MAX_DESCRIPTION, Description, Schema
from sweeplab.config._numbers import check_setting_value
from sweeplab.config._validate import allowed_keys, format_validation_error, validate_doc
from sweeplab.config._yaml import YamlDoc, load_yaml, parse_yaml

__all__ = [
    "MAX_DESCRIPTION",
    "Description",
    "check_setting_value",
    "Schema",
    "YamlDoc",
    "allowed_keys",
    "format_validation_error",
    "load_yaml",
    "parse_yaml",
    "validate_doc",
]
