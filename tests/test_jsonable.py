"""The shared plain-JSON conversion of the results' ``to_dict`` methods."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prillm._jsonable import id_rows, json_fields, jsonable

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(arrays(np.float64, st.integers(0, 4), elements=finite))
def test_jsonable_arrays_are_their_lists(a):
    assert jsonable(a) == a.tolist()
    assert json.dumps(jsonable(a)) == json.dumps([float(x) for x in a])


def test_jsonable_nested_values():
    class Result:
        def to_dict(self):
            return {"x": 1}

    value = {"t": (1, np.int64(2)), "s": [np.float64(0.5), Result()], "n": None, "text": "a"}
    out = jsonable(value)
    assert out == {"t": [1, 2], "s": [0.5, {"x": 1}], "n": None, "text": "a"}
    assert type(out["t"][1]) is int and type(out["s"][0]) is float


def test_json_fields_order_and_renames():
    obj = SimpleNamespace(b=(1, 2), a=np.arange(2), wall_time=0.25)
    out = json_fields(obj, "b", "a", wall_time_s="wall_time")
    assert list(out) == ["b", "a", "wall_time_s"]
    assert out == {"b": [1, 2], "a": [0, 1], "wall_time_s": 0.25}
    with pytest.raises(AttributeError):
        json_fields(obj, "missing")


@given(st.lists(finite, min_size=0, max_size=5))
def test_id_rows_is_one_object_per_id(values):
    ids = [f"p{k}" for k in range(len(values))]
    col = np.array(values)
    rows = id_rows(ids, price=col, load=list(values))
    assert rows == [{"id": pid, "price": v, "load": v} for pid, v in zip(ids, values, strict=True)]


def test_id_rows_checks_the_lengths():
    with pytest.raises(ValueError, match="load: expected 2 values"):
        id_rows(["a", "b"], load=[1.0])


def _strict_reference(value):
    """The diagnostics conversion PricingResult.to_dict used before it shared jsonable."""
    import math

    if isinstance(value, dict):
        return {str(k): _strict_reference(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_reference(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict_reference(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    return value if value is None or isinstance(value, str) else str(value)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=3),
    st.floats().map(np.float64),
    st.integers(-100, 100).map(np.int64),
    st.booleans().map(np.bool_),
    st.just(object),
    arrays(np.float64, st.integers(0, 3), elements=st.floats()),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=2), st.integers(0, 9)), inner, max_size=3),
    ),
    max_leaves=10,
)


@given(values)
def test_strict_jsonable_is_valid_json_and_the_old_diagnostics_conversion(value):
    out = jsonable(value, strict=True)
    text = json.dumps(out, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert text == json.dumps(_strict_reference(value), allow_nan=False)
