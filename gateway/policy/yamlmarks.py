"""Safe YAML reading that remembers where each key sits and refuses duplicate keys.

PyYAML's `safe_load` forgets line numbers and keeps the last of two equal keys silently
(YAML 1.2 §3.2.1.1 says mapping keys are unique). Composing nodes with the SafeLoader and
building plain values ourselves keeps the safety of `safe_load` and adds both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line, column
Report = Callable[[Position, str], None]


@dataclass
class Document:
    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)

    def position(self, path: Path) -> Position:
        """Where `path` is, or its nearest enclosing entry (e.g. for a missing field)."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))


def _position(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read(text: str, report: Report) -> Document | None:
    """Parse one YAML document; problems go to `report`; None when the text is not usable."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        detail = ", ".join(part for part in (exc.context, exc.problem) if part)
        report(where, f"yaml syntax: {detail}")
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML parse error carries a mark
        report((1, 1), f"yaml syntax: {exc}")
        return None
    if root is None:
        report((1, 1), "file is empty")
        return None
    doc = Document(data=None)
    constructor = SafeConstructor()
    doc.data = _build(root, (), doc, constructor, report)
    doc.positions.setdefault((), _position(root))
    return doc


def _build(node: Node, path: Path, doc: Document, constructor: SafeConstructor,
           report: Report) -> Any:
    doc.positions.setdefault(path, _position(node))
    if isinstance(node, ScalarNode):
        try:
            return constructor.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            report(_position(node), f"yaml value: {exc.problem}")
            return None
    if isinstance(node, SequenceNode):
        return [_build(item, path + (i,), doc, constructor, report)
                for i, item in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    result: dict[Any, Any] = {}
    first_seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            report(_position(key_node), "mapping keys must be plain words")
            continue
        key = constructor.construct_object(key_node)
        if not isinstance(key, str):
            key = str(key)  # e.g. `2024: ...`; the schema rejects it by name
        if key in first_seen:
            report(_position(key_node),
                   f"duplicate key `{key}` (first at line {first_seen[key]})")
            continue
        first_seen[key] = key_node.start_mark.line + 1
        # The key's position is the entry's position: that is where an officer looks.
        doc.positions[path + (key,)] = _position(key_node)
        result[key] = _build(value_node, path + (key,), doc, constructor, report)
    return result
