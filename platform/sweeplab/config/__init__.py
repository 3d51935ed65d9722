"""Configuration: YAML files parsed once, at the boundary, into typed validated objects."""

from sweeplab.config._base import Schema
from sweeplab.config._validate import allowed_keys, validate_doc
from sweeplab.config._yaml import YamlDoc, load_yaml, parse_yaml

__all__ = ["Schema", "YamlDoc", "allowed_keys", "load_yaml", "parse_yaml", "validate_doc"]
