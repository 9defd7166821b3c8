"""What the JSON API accepts: each request's fields, their types and bounds, and the error that
names the field a bad request got wrong (the server answers it with a 4xx, never a 500)."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from charrnn.models.generation import UNSCALED

MAX_BODY = 64 * 1024

# Most characters one request may ask for, unless `charrnn serve --max-length` says otherwise.
MAX_LENGTH = 2000


class BadRequest(Exception):
    """A request the server refuses: the status, the message and the field at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 422,
                 **details: Any):
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **({"field": field} if field else {}), **details}


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a request: its type, its default (`REQUIRED`: none) and its bounds."""

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is refused
    nullable: bool = False

    def check(self, name: str, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"{name} must be a finite number, not {value}", name)
        if not _is(value, self.kind):
            raise BadRequest(f"{name} must be {_KIND_NAMES[self.kind]}, not {_json_kind(value)}",
                             name)
        too_low = self.low is not None and (value <= self.low if self.low_open
                                             else value < self.low)
        if too_low or (self.high is not None and value > self.high):
            raise BadRequest(f"{name} must be {self._bounds()}, not {value}", name)
        return value

    def _bounds(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = None if self.high is None else f"<= {self.high:g}"
        if low and high and not self.low_open:
            return f"between {self.low:g} and {self.high:g}"
        return " and ".join(part for part in (low, high) if part)


REQUIRED = object()

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list of strings"}


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def _json_kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def generate_fields(max_length: int) -> dict[str, Field]:
    return {
        "seed": Field(str, REQUIRED),
        "length": Field(int, 200, 1, max_length),
        "temperature": Field(float, UNSCALED, 0, low_open=True),
        "top_k": Field(int, 0, 0, 65536),
        "top_p": Field(float, 1.0, 0, 1, low_open=True),
        "greedy": Field(bool, False),
        "random_seed": Field(int, None, 0, 2**63 - 1, nullable=True),
        "stream": Field(bool, False),
        # Constraints (models/constraints.py) and the copy meter (text/index.py).
        "pattern": Field(str, None, nullable=True),
        "stop_at": Field(list, []),
        "ban": Field(str, ""),
        "max_copy": Field(int, 0, 0, 1_000_000),
        "show_copied": Field(bool, False),
    }


CONSTRAINT_FIELDS = ("pattern", "stop_at", "ban", "max_copy")
NEXT_FIELDS = {"text": Field(str, REQUIRED), "k": Field(int, 5, 1, 1000)}
GUESS_FIELDS = {"round": Field(str, REQUIRED), "guess": Field(str, REQUIRED)}


# `text` is bounded by `--max-length`, as a generation is; `units` are named as 1.c.42;
# `figures` adds the rankings of every unit (a second pass, of an untrained twin: slower).
INSPECT_FIELDS = {"text": Field(str, REQUIRED), "units": Field(list, []),
                  "figures": Field(bool, False)}


def parse(body: bytes, fields: dict[str, Field]) -> dict[str, Any]:
    """The request's fields, checked, with defaults filled in."""
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text", status=400) from None
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON ({error.msg} at line {error.lineno} "
                         f"column {error.colno})", status=400) from None
    if not isinstance(request, dict):
        raise BadRequest(f"the body must be a JSON object, not {_json_kind(request)}",
                         status=400)
    unknown = [name for name in request if name not in fields]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; the fields are "
                         f"{', '.join(fields)}", unknown[0])
    checked = {}
    for name, field in fields.items():
        if name not in request:
            if field.default is REQUIRED:
                raise BadRequest(f"{name} is missing", name)
            checked[name] = field.default
        else:
            checked[name] = field.check(name, request[name])
    return checked
