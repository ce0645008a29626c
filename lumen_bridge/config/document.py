"""The configuration file as YAML nodes: its data, and the line each key and item is on."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset ``${VAR}`` becomes empty."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        value = env.get(match.group(1))
        if value is None or (value == "" and match.group(2) is not None):
            return match.group(2) or ""
        return value

    return _VAR.sub(substitute, text)


def _expand_values(value: object, environ: Mapping[str, str] | None) -> object:
    if isinstance(value, str):
        return expand_env(value, environ)
    if isinstance(value, list):
        return [_expand_values(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: _expand_values(item, environ) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Document:
    """A parsed file: ``data`` with every string value's ``${VAR}`` expanded, and its nodes.

    Variables are expanded after parsing, in values only, so a value (a password with a
    ``#`` or ``: ``) is taken as it is and never changes the file's structure or lines."""

    data: object
    root: yaml.Node | None

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] | None = None) -> Document:
        """Parse YAML text; raises :class:`yaml.YAMLError` (with its mark) when it is not."""
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = None if root is None else loader.construct_document(root)
        finally:
            loader.dispose()
        return cls(_expand_values(data, environ), root)

    def locate(self, path: Sequence[str | int]) -> int:
        """The line (from 1) of the deepest key or item of ``path`` that the file has."""
        node = self.root
        line = 1 if node is None else node.start_mark.line + 1
        for step in path:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                        child, line = value, key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and step in range(len(node.value)):
                child = node.value[step]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line
