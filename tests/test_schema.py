"""The API's request fields (serving/schema.py): types, bounds and defaults, each refusal
naming its field."""
from __future__ import annotations

import json

import pytest

from charrnn.serving.schema import (
    INSPECT_FIELDS,
    MAX_LENGTH,
    NEXT_FIELDS,
    BadRequest,
    generate_fields,
    parse,
)


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_defaults_are_filled_in():
    fields = parse(body(seed="Hi"), generate_fields(MAX_LENGTH))
    assert fields == {"seed": "Hi", "length": 200, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
                      "greedy": False, "random_seed": None, "stream": False, "pattern": None,
                      "stop_at": [], "ban": "", "max_copy": 0, "show_copied": False}
    assert parse(body(text="a"), INSPECT_FIELDS) == {"text": "a", "units": [],
                                                     "figures": False}


@pytest.mark.parametrize("fields, field, words", [
    ({"seed": 1}, "seed", "must be a string, not a number"),
    ({}, "seed", "seed is missing"),
    ({"seed": "a", "length": 0}, "length", "between 1 and 2000"),
    ({"seed": "a", "length": 2001}, "length", "between 1 and 2000"),
    ({"seed": "a", "temperature": 0}, "temperature", "must be > 0"),
    ({"seed": "a", "top_p": 1.5}, "top_p", "> 0 and <= 1"),
    ({"seed": "a", "greedy": 1}, "greedy", "true or false"),
    ({"seed": "a", "length": True}, "length", "an integer, not true/false"),
    ({"seed": "a", "colour": "red"}, "colour", "unknown field 'colour'"),
])
def test_each_refusal_names_its_field(fields, field, words):
    with pytest.raises(BadRequest) as refused:
        parse(body(**fields), generate_fields(MAX_LENGTH))
    assert refused.value.status == 422 and refused.value.body["field"] == field
    assert words in refused.value.body["error"]


def test_lists_of_strings_and_bodies_that_are_not_json_objects():
    with pytest.raises(BadRequest, match="a list of strings, not a list"):
        parse(body(text="a", units=[1]), INSPECT_FIELDS)
    for raw, status in [(b"{", 400), (b"\xff", 400), (b"[1]", 400)]:
        with pytest.raises(BadRequest) as refused:
            parse(raw, NEXT_FIELDS)
        assert refused.value.status == status
    with pytest.raises(BadRequest, match="finite number"):
        parse(b'{"seed": "a", "temperature": NaN}', generate_fields(MAX_LENGTH))
