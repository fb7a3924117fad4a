"""Plain-data encoding of what the sandboxed process sends back to the grader.

Results cross the sandbox boundary as JSON, never pickle: a hostile submission can then
at worst send wrong numbers, not code. NumPy arrays travel as ``{"__ndarray__": dtype,
"shape": [...], "data": base64}`` of their raw little-endian bytes, so float64 values
come back bit for bit (NaN and infinities included). Only numeric and boolean dtypes are
accepted in either direction.
"""

from __future__ import annotations

import base64
import json

import numpy as np

_ARRAY_TAG = "__ndarray__"
#: dtype kinds that are plain numbers: bool, signed/unsigned int, float, complex.
_PLAIN_KINDS = "biufc"


class NotPlainData(TypeError):
    """Raised when a value is not JSON-able plain data (or a numeric ndarray)."""


def _encode(value):
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in _PLAIN_KINDS:
            raise NotPlainData(f"array of dtype {array.dtype} is not plain numeric data")
        array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        return {_ARRAY_TAG: array.dtype.str, "shape": list(array.shape),
                "data": base64.b64encode(array.tobytes()).decode("ascii")}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotPlainData("dictionary keys must be strings")
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    # Exact types only: a subclass of float or str could carry a lying __eq__ or __repr__.
    if value is None or type(value) in (bool, int, float, str):
        return value
    raise NotPlainData(f"{type(value).__name__} is not plain data")


def dumps(value) -> bytes:
    """Encode ``value`` (nested dict/list/str/int/float/bool/None/ndarray) as UTF-8 JSON."""
    return json.dumps(_encode(value), allow_nan=True).encode("utf-8")


def _decode(value):
    if isinstance(value, dict):
        if _ARRAY_TAG in value:
            dtype = np.dtype(value[_ARRAY_TAG])
            if dtype.kind not in _PLAIN_KINDS:
                raise NotPlainData(f"array of dtype {dtype} is not plain numeric data")
            shape = tuple(int(n) for n in value["shape"])
            data = base64.b64decode(value["data"], validate=True)
            return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def loads(data: bytes):
    """Decode what :func:`dumps` wrote; raises ``ValueError`` on anything malformed."""
    try:
        return _decode(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"malformed result data: {error}") from None
