"""JSON Lines as every worker reads them (item numbering is a contract: see ftapi.jsonlines)."""

from __future__ import annotations

import json

import pytest

from ftapi.jsonlines import JsonLineError, parse_json_lines


def test_lines_are_numbered_with_blank_ones_counted():
    text = '{"a": 1}\n\n  \n[2]\n"three"\n'
    assert parse_json_lines(text) == [(1, {"a": 1}), (4, [2]), (5, "three")]


def test_unicode_line_separators_inside_values_do_not_split_a_line():
    row = {"question": "first\u2028second\x1cthird\x85"}
    text = json.dumps(row, ensure_ascii=False) + "\n"
    assert parse_json_lines(text) == [(1, row)]


def test_a_bad_line_is_named():
    with pytest.raises(JsonLineError) as caught:
        parse_json_lines('{"a": 1}\n\n{oops\n')
    assert caught.value.number == 3 and "line 3 is not JSON" in str(caught.value)
