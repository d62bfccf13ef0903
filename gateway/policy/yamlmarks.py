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


# What one file may expand to, aliases included: the shipped set's largest file holds a few
# thousand values; an alias of an alias of a list ("billion laughs") would hold billions.
MAX_VALUES = 100_000
# Errors a scalar's constructor raises for a value its tag or form promises but does not hold
# (`2026-13-45` resolves to a timestamp, `!!int x`, `<<` is a merge key): PyYAML's own, and the
# ValueError or OverflowError of the int, date or base64 conversion under it, and the
# AttributeError of `!!timestamp` on a text that is no timestamp at all.
_SCALAR_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, AttributeError)


# PyYAML's scanner slows down with the square of `[`/`{` nesting (0.2 s for one list 400 deep,
# seconds for a few of them); a policy needs a handful of levels.
MAX_FLOW_DEPTH = 64


def _flow_too_deep(text: str) -> Position | None:
    """Where `[`/`{` nesting first exceeds `MAX_FLOW_DEPTH`, or None. A cheap scan before the
    parser: brackets in quotes (on one line) and comments are not counted."""
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        quote = ""
        for column, char in enumerate(line, start=1):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 1 or line[column - 2] in " \t"):
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_FLOW_DEPTH:
                    return number, column
            elif char in "]}":
                depth = max(depth - 1, 0)
    return None


class _Refused(Exception):
    """The document cannot be built at all (too many values, nesting too deep)."""

    def __init__(self, where: Position, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def read(text: str, report: Report) -> Document | None:
    """Parse one YAML document; problems go to `report`; None when the text is not usable."""
    too_deep = _flow_too_deep(text)
    if too_deep is not None:
        report(too_deep, f"yaml syntax: lists or entries nested more than {MAX_FLOW_DEPTH} deep")
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        detail = ", ".join(part for part in (exc.context, exc.problem) if part)
        report(where, f"yaml syntax: {detail}")
        return None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        before = text[: exc.position]
        where = before.count("\n") + 1, exc.position - before.rfind("\n")
        report(where, f"yaml syntax: unacceptable character #x{exc.character:04x}: {exc.reason}")
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - every other one carries a mark
        report((1, 1), f"yaml syntax: {str(exc).splitlines()[0]}")
        return None
    except RecursionError:  # PyYAML composes recursively: thousands of nested brackets
        report((1, 1), "yaml syntax: lists or entries nested too deeply")
        return None
    if root is None:
        report((1, 1), "file is empty")
        return None
    doc = Document(data=None)
    builder = _Builder(doc, report)
    try:
        doc.data = builder.build(root, ())
    except _Refused as exc:
        report(exc.where, exc.message)
        return None
    except RecursionError:
        report(_position(root), "yaml syntax: lists or entries nested too deeply")
        return None
    doc.positions.setdefault((), _position(root))
    return doc


class _Builder:
    """Plain values from composed nodes, with positions; aliases followed, within bounds."""

    def __init__(self, doc: Document, report: Report) -> None:
        self.doc = doc
        self.report = report
        self.constructor = SafeConstructor()
        self.values = 0
        self.open: set[int] = set()  # ids of the collections being built: an alias to one loops

    def build(self, node: Node, path: Path) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(_position(node), f"yaml aliases: the file expands to more than "
                                            f"{MAX_VALUES:,} values")
        self.doc.positions.setdefault(path, _position(node))
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node)
            except yaml.MarkedYAMLError as exc:
                self.report(_position(node), f"yaml value: {exc.problem}")
                return None
            except _SCALAR_ERRORS:
                kind = node.tag.rpartition(":")[2] or "value"
                self.report(_position(node), f"yaml value: not a valid `{kind}`")
                return None
        if id(node) in self.open:
            self.report(_position(node), "yaml aliases: an alias refers to the entry that holds it")
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.report(_position(key_node), "mapping keys must be plain words")
                continue
            try:
                key = self.constructor.construct_object(key_node)
            except _SCALAR_ERRORS:  # e.g. `2026-13-45:` or a merge key `<<`: the words as written
                key = key_node.value
            if not isinstance(key, str):
                key = str(key)  # e.g. `2024: ...`; the schema rejects it by name
            if key in first_seen:
                self.report(_position(key_node),
                            f"duplicate key `{key}` (first at line {first_seen[key]})")
                continue
            first_seen[key] = key_node.start_mark.line + 1
            # The key's position is the entry's position: that is where an officer looks.
            self.doc.positions[path + (key,)] = _position(key_node)
            result[key] = self.build(value_node, path + (key,))
        return result
