"""Reads routing settings (`config/routing.yaml`) into `callrouting.rules.RoutingConfig`.

Admins edit this file by hand, so every problem is reported with file and line
(through `hotline.yamlsrc`), all at once, and unknown keys are errors rather than
silently ignored typos.  Names that live in the operator directory (teams, operator
extensions) are checked separately by `RoutingConfig.validate_against`, because the
directory can change without this file changing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callrouting.model import Directory
from callrouting.rules import (
    RoutingConfig,
)
from hotline.problems import Marks, Problem, YamlFileError, pydantic_problems
from hotline.yamlsrc import load_yaml, parse_yaml


class RoutingConfigError(YamlFileError):
    """The routing configuration cannot be used; `problems` lists everything wrong."""




def routing_config_from_data(
    data: Any, marks: Marks, directory: Directory | None = None
) -> RoutingConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RoutingConfigError(
            [Problem(marks.at(()), "the routing configuration must be a mapping")]
        )
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise RoutingConfigError(pydantic_problems(exc, marks)) from None
    config._marks = marks
    problems = config.check()
    if directory is not None:
        problems += config.validate_against(directory)
    if problems:
        raise RoutingConfigError(problems)
    return config


def parse_routing_config(
    text: str, file: str = "<routing config>", directory: Directory | None = None
) -> RoutingConfig:
    try:
        data, marks = parse_yaml(text, file)
    except RoutingConfigError:
        raise
    except YamlFileError as exc:
        raise RoutingConfigError(exc.problems) from None
    return routing_config_from_data(data, marks, directory)


def load_routing_config(path: str | Path, directory: Directory | None = None) -> RoutingConfig:
    """Load and validate `routing.yaml`; raises RoutingConfigError listing all problems.

    With `directory`, team names and extensions are checked against it too.
    """
    try:
        data, marks = load_yaml(path)
    except YamlFileError as exc:
        raise RoutingConfigError(exc.problems) from None
    return routing_config_from_data(data, marks, directory)


__all__ = ["RoutingConfigError", "load_routing_config", "parse_routing_config", "routing_config_from_data"]
