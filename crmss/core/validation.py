"""The checks of option values: each options field's type annotation is its rule, applied alike
to the command line's text and to the Python API's values, with one message for both.

A field's annotation says what it accepts: ``int`` and ``float`` (finite; the command line's
text is parsed the same way for both doors, so ``"5"`` is accepted as 5), ``bool``, ``str``,
``Path``, ``Literal[...]`` (a choice), ``tuple[X, ...]`` (one or more) and ``tuple[X, X]``
(exactly two), ``X | None`` (None allowed), with constraints in ``Annotated[X, ...]``:
:class:`Interval` (a range, optionally a multiple), :class:`Exists` (a file or folder that must
exist) and :class:`Matches` (a regular expression). :func:`checked` converts a value or raises
:class:`InputError` naming the field and its value as the caller gave it (:func:`argument`):
``batch_size=12: ...`` from Python, ``--batch-size 12: ...`` on the command line, which
:func:`speaking_command_line` switches to.

Why not pydantic: the options are frozen dataclasses whose fields also carry the command line's
help texts, and a value must get the same message through either door. Checking the command
line's text with the very function that checks the API's values gives that by construction;
pydantic's messages would need translating into the command line's, for about the length of
this module. This module imports neither TensorFlow nor GDAL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from .errors import InputError


@dataclass(frozen=True)
class Interval:
    """Numbers from ``low`` to ``high`` (None: unbounded), ends excluded where ``*_open``;
    for whole numbers, optionally a ``multiple`` of a step."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    multiple: int | None = None

    def holds(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below and (self.multiple is None or value % self.multiple == 0)

    def describe(self, whole: bool) -> str:
        """``a whole number from 1 to 64``, ``a finite number in (0, 1]``, ..."""
        if whole:
            text = (
                "a whole number"
                + (f" from {self.low:.0f}" if self.low is not None else "")
                + (f" to {self.high:.0f}" if self.high is not None else "")
            )
            return text + (f", a multiple of {self.multiple}" if self.multiple else "")
        low = "(-inf" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        high = "inf)" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        return f"a finite number in {low}, {high}"


@dataclass(frozen=True)
class Exists:
    """A path that must exist: ``kind`` is ``file``, ``folder`` or ``any`` (either)."""

    kind: str = "any"


@dataclass(frozen=True)
class Matches:
    """Text matching ``pattern`` whole, else refused with ``hint``."""

    pattern: str
    hint: str


def flag_of(field: dataclasses.Field) -> str:
    """How the command line names a field: ``--batch-size``, or its metavar for a positional one."""
    return field.metadata.get("flag") or f"--{field.name.replace('_', '-')}"


#: whether messages name options as the command line does (``--batch-size 12``) rather than as
#: Python does (``batch_size=12``): set by :func:`speaking_command_line` alone. A module global,
#: not a context variable, so that the threads of a command (readers, writers) speak alike.
_command_line = False

#: no value: :func:`argument` names the field alone
NOTHING: Any = object()


@contextlib.contextmanager
def speaking_command_line() -> Iterator[None]:
    """Within the block, messages name options by their flags (``cli.main`` runs a command in
    it)."""
    global _command_line
    before, _command_line = _command_line, True
    try:
        yield
    finally:
        _command_line = before


def command_line() -> bool:
    """Whether messages now speak to the command line's user (see :func:`speaking_command_line`)."""
    return _command_line


def argument(name: str, value: Any = NOTHING, owner: type | None = None) -> str:
    """How a message names the option field ``name`` (with ``value``, as given): ``batch_size=12``
    from Python, ``--batch-size 12`` on the command line; ``owner``, the options class, gives a
    field's own flag (``models`` is ``--model``)."""
    if _command_line:
        field = {f.name: f for f in dataclasses.fields(owner)}.get(name) if owner else None
        flag = flag_of(field) if field else f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            return flag if value else f"--no-{flag.removeprefix('--')}"
        if value is None:
            return f"no {flag}"
        return flag if value is NOTHING else f"{flag} {shown(value)}"
    return name if value is NOTHING else f"{name}={_python(value)}"


#: the Python API's function of each command whose name differs from the command's
_FUNCTIONS = {"test": "evaluate"}


def invocation(command: str, owner: type, **values: Any) -> str:
    """How to run ``command`` with these field values, for a message to suggest: ``crmss test
    --data D --model R`` on the command line, ``crmss.evaluate(crmss.EvaluateOptions(data='D',
    models=('R',)))`` from Python; ``owner`` is the command's options class."""
    if _command_line:
        return " ".join(
            ["crmss", command, *(argument(name, value, owner) for name, value in values.items())]
        )
    fields = ", ".join(f"{name}={_python(value)}" for name, value in values.items())
    return f"crmss.{_FUNCTIONS.get(command, command)}(crmss.{owner.__name__}({fields}))"


def refuse_other_options(
    record: Path, changed: dict[str, tuple[Any, Any]], keep: str, command: str
) -> None:
    """Refuse to continue the work that ``record`` describes with options other than it was made
    with: the one rule of continuing a training, a protocol and a preparation.

    Args:
        record: the file holding the work's options (RUN/config.json, OUT/reproduce.json,
            DATA/manifest.json).
        changed: field name -> (the value now, the value recorded), for each field that differs.
        keep: how to continue instead, for the message ("leave them out to continue the run").
        command: the command that would start afresh in a new ``out`` folder (``train``).

    Raises:
        InputError: where ``changed`` is not empty; the message names each field with both values.
    """
    if changed:
        clashes = "; ".join(
            f"{argument(name, now)} (made with {argument(name, before)})"
            for name, (now, before) in changed.items()
        )
        raise InputError(
            f"{record}: made with other options: {clashes}. {keep}, or {command} "
            f"into a new {argument('out')} folder"
        )


def damaged(command: str) -> str:
    """The fix for a damaged record of ``command``'s output folder, for a message."""
    return f"the folder is damaged: {command} into a new {argument('out')} folder"


def shown(value: Any) -> str:
    """A value as the command line's messages show it (the text a user would type)."""
    if isinstance(value, (tuple, list)):
        return " ".join(map(shown, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _python(value: Any) -> str:
    """A value as Python code shows it (paths as text)."""
    if isinstance(value, os.PathLike):
        return repr(os.fspath(value))
    if isinstance(value, (tuple, list)):
        return repr(type(value)(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value))
    return repr(value)


@functools.cache
def hints_of(owner: type) -> dict[str, Any]:
    """The type annotations of the options class ``owner``, names resolved, constraints kept
    (``typing.get_type_hints``, which evaluates every annotation's text anew on each call: kept
    once per class, as a class's annotations do not change). Do not modify the mapping."""
    return typing.get_type_hints(owner, include_extras=True)


def checked(owner: type, name: str, value: Any) -> Any:
    """``value`` for field ``name`` of the options class ``owner``, converted to its type
    (text parsed as the command line parses it; lists become tuples); InputError if refused."""
    return convert(hints_of(owner)[name], value, name, owner)


def choices_of(owner: type, name: str) -> tuple[str, ...] | None:
    """The choices of a ``Literal`` field (or of a tuple of them), else None."""
    hint = bare_type(owner, name)
    if typing.get_origin(hint) is tuple:
        hint = unpack(typing.get_args(hint)[0])[0]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


def bare_type(owner: type, name: str) -> Any:
    """The type of field ``name`` without its constraints and None: ``int``, ``bool``,
    ``tuple[...]``, a dataclass ..."""
    return unpack(hints_of(owner)[name])[0]


def arity_of(owner: type, name: str) -> int | str | None:
    """argparse's ``nargs`` of a field: None for one value, ``"+"`` for ``tuple[X, ...]``, N for
    N-tuples."""
    hint = bare_type(owner, name)
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    return "+" if len(args) == 2 and args[1] is Ellipsis else len(args)


def unpack(hint: Any) -> tuple[Any, tuple, bool]:
    """An annotation as (the bare type, its Annotated constraints, whether None is allowed)."""
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    constraints: tuple = ()
    if typing.get_origin(hint) is Annotated:
        hint, *extra = typing.get_args(hint)
        constraints = tuple(extra)
    return hint, constraints, optional


def convert(hint: Any, value: Any, name: str, owner: type | None = None) -> Any:
    """``value`` converted to the type ``hint`` (an annotation as the options use them); messages
    name it as the field (or argument) ``name`` of ``owner`` (:func:`argument`)."""
    bare, constraints, optional = unpack(hint)
    if value is None:
        if optional:
            return None
        raise InputError(f"{argument(name, owner=owner)}: a value is needed")
    origin = typing.get_origin(bare)
    if origin is tuple:
        return _sequence(bare, value, name, owner)
    if origin is Literal:
        choices = typing.get_args(bare)
        if value not in choices:
            raise InputError(
                f"{argument(name, value, owner)}: unknown; choose one of {', '.join(choices)}"
            )
        return value
    converted = _scalar(bare, value, name, owner)
    for constraint in constraints:
        _apply(constraint, converted, bare, name, owner)
    return converted


def _sequence(bare, value: Any, name: str, owner: type | None) -> tuple:
    args = typing.get_args(bare)
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, (tuple, list)):
        raise InputError(f"{argument(name, value, owner)}: give a list of values, not one")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(args[0], item, name, owner) for item in value)
    if len(value) != len(args):
        raise InputError(f"{argument(name, value, owner)}: give {len(args)} values")
    return tuple(convert(kind, item, name, owner) for kind, item in zip(args, value))


def _scalar(bare, value: Any, name: str, owner: type | None) -> Any:
    if bare is bool:
        if not isinstance(value, bool):
            raise InputError(f"{argument(name, value, owner)}: give True or False")
        return value
    if bare is int:
        number = _number(value, name, owner, whole=True)
        if isinstance(number, float) and not number.is_integer():
            raise InputError(f"{argument(name, value, owner)}: not a whole number")
        return int(number)
    if bare is float:
        return float(_number(value, name, owner, whole=False))
    if bare in (str, Path):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise InputError(
                f"{argument(name, value, owner)}: give a {'path' if bare is Path else 'text'}"
            )
        return Path(value) if bare is Path else os.fspath(value)
    if isinstance(bare, type) and dataclasses.is_dataclass(bare):
        if not isinstance(value, bare):
            raise InputError(
                f"{argument(name, owner=owner)}: give a {bare.__name__}, not {type(value).__name__}"
            )
        return value
    raise TypeError(
        f"{name}: crmss has no check for fields of type {bare!r}"
    )  # a field declared without a rule


def _number(value: Any, name: str, owner: type | None, whole: bool) -> float | int:
    what = "a whole number" if whole else "a number"
    if isinstance(value, str):
        try:
            value = int(value) if whole and re.fullmatch(r"\s*[-+]?\d+\s*", value) else float(value)
        except ValueError:
            raise InputError(f"{argument(name, value, owner)}: not {what}") from None
    elif _is_numpy_number(value):
        value = value.item()  # numpy's scalars as Python's int or float
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{argument(name, value, owner)}: not {what}")
    # ints are finite, and may exceed a float
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{argument(name, value, owner)}: not allowed; give a finite number")
    return value


def _is_numpy_number(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("i", "u", "f") and getattr(value, "ndim", 1) == 0


def _apply(constraint, value: Any, bare, name: str, owner: type | None) -> None:
    if isinstance(constraint, Interval) and not constraint.holds(value):
        raise InputError(
            f"{argument(name, value, owner)}: out of range; give {constraint.describe(bare is int)}"
        )
    if isinstance(constraint, Exists):
        path = Path(value)
        exists = {"file": path.is_file(), "folder": path.is_dir(), "any": path.exists()}[
            constraint.kind
        ]
        if not exists:
            kind = "file or folder" if constraint.kind == "any" else constraint.kind
            raise InputError(f"{argument(name, path, owner)}: no such {kind}")
    if isinstance(constraint, Matches) and not re.fullmatch(constraint.pattern, value):
        raise InputError(f"{argument(name, value, owner)}: {constraint.hint}")


def check_fields(options: Any) -> None:
    """Convert and check every field of the frozen dataclass ``options`` in place (its
    ``__post_init__`` calls this first)."""
    for field in dataclasses.fields(options):
        object.__setattr__(
            options, field.name, checked(type(options), field.name, getattr(options, field.name))
        )


def json_schema(owner: type) -> dict:
    """The JSON Schema of the options class ``owner`` as a JSON object (``dataclasses.asdict``
    with paths as text): each field's type, choices and range; no field required (a record
    written before a field existed lacks it), no other field allowed."""
    hints = hints_of(owner)
    properties = {f.name: _json_type(hints[f.name]) for f in dataclasses.fields(owner)}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _json_type(hint) -> dict:
    bare, constraints, optional = unpack(hint)
    origin = typing.get_origin(bare)
    if origin is Literal:
        schema: dict = {"enum": list(typing.get_args(bare))}
    elif origin is tuple:
        args = typing.get_args(bare)
        items = _json_type(args[0]) if args[1:] == (Ellipsis,) else {}
        schema = (
            {"type": "array", "items": items}
            if items
            else {"type": "array", "prefixItems": [_json_type(a) for a in args]}
        )
    elif isinstance(bare, type) and dataclasses.is_dataclass(bare):
        schema = json_schema(bare)
    else:
        schema = {
            "type": {
                bool: "boolean",
                int: "integer",
                float: "number",
                str: "string",
                Path: "string",
            }[bare]
        }
    for constraint in constraints:
        if isinstance(constraint, Interval):
            for key, bound, is_open in (
                ("Minimum", constraint.low, constraint.low_open),
                ("Maximum", constraint.high, constraint.high_open),
            ):
                if bound is not None:
                    schema["exclusive" + key if is_open else key.lower()] = bound
            if constraint.multiple:
                schema["multipleOf"] = constraint.multiple
        if isinstance(constraint, Matches):
            schema["pattern"] = f"^(?:{constraint.pattern})$"
    return {"anyOf": [schema, {"type": "null"}]} if optional else schema
