"""Request decoding: V2 tensors, V1 instances and JSON records -> validated feature columns.

A request becomes one numpy array per signature input, in signature order, holding the
n rows of that column (shape [n] or [n, 1]). Every
check that fails raises RequestError with a message naming the input, so the client
gets a 4xx it can act on. Lookups are precomputed once per signature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..api.modelversion import Signature
from .errors import RequestError
from .nonfinite import Locate, check_column, check_matrix, in_range

NUMPY_DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}
_NUMERIC_REQUEST_TYPES = frozenset(
    {"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
    | {"FP16", "FP32", "FP64"}
)
_NUMBER_KINDS = "fiu"

Columns = list[np.ndarray]


@dataclass(frozen=True)
class Column:
    name: str
    datatype: str
    dtype: Any
    is_bytes: bool


class CompiledSignature:
    def __init__(self, signature: Signature) -> None:
        self.columns = tuple(
            Column(t.name, t.datatype, NUMPY_DTYPES[t.datatype], t.datatype == "BYTES")
            for t in signature.inputs
        )
        self.names = tuple(c.name for c in self.columns)
        self.index = {name: i for i, name in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError("signature input names must be unique")
        self.width = len(self.columns)
        self.all_numeric = not any(c.is_bytes for c in self.columns)
        self.name_set = frozenset(self.names)
        # All columns of one float type: a numeric matrix is cast once and sliced (hot path).
        dtypes = {c.datatype for c in self.columns}
        self.float_dtype = (
            NUMPY_DTYPES[next(iter(dtypes))] if dtypes in ({"FP32"}, {"FP64"}) else None
        )
        self.datatypes = tuple(c.datatype for c in self.columns)
        # Per input: whether NaN (a missing value) is accepted; infinity never is. What the
        # signature declares; the server adds what the loaded model shows (accept_missing).
        self.declared_missing = {t.name: t.allow_missing for t in signature.inputs}
        self.allow_nan = np.array(
            [bool(t.allow_missing) and t.datatype in ("FP32", "FP64") for t in signature.inputs]
        )

    def accept_missing(self, shown: frozenset[str]) -> None:
        """Accept NaN in the float inputs the model shows it handles, unless the signature
        declares otherwise (allowMissing: false)."""
        self.allow_nan = np.array(
            [
                c.datatype in ("FP32", "FP64")
                and (
                    self.declared_missing[c.name]
                    if self.declared_missing[c.name] is not None
                    else c.name in shown
                )
                for c in self.columns
            ]
        )

    # --- V2 ---------------------------------------------------------------------------------
    def from_v2(self, body: Any) -> tuple[Columns, int]:
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object with an 'inputs' list")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise RequestError("'inputs' must be a non-empty list of tensors")
        for tensor in inputs:
            if not isinstance(tensor, dict):
                raise RequestError("each element of 'inputs' must be an object")
        first = inputs[0]
        if len(inputs) == 1 and (self.width > 1 or first.get("name") not in self.index):
            shape = first.get("shape")
            if first.get("name") not in self.index or (isinstance(shape, list) and len(shape) == 2):
                return self._v2_matrix(first)
        return self._v2_columns(inputs)

    def _v2_matrix(self, tensor: dict[str, Any]) -> tuple[Columns, int]:
        name = tensor.get("name", "<unnamed>")
        shape = _shape(tensor, name)
        if len(shape) != 2 or shape[1] != self.width:
            raise RequestError(
                f"input '{name}' is not a feature of this model; a single tensor must have shape "
                f"[n, {self.width}] with columns in signature order {list(self.names)}, "
                f"got shape {shape}"
            )
        n = shape[0]
        if n == 0:
            raise RequestError("empty input: the request has no rows")
        datatype = _datatype(tensor, name)
        data = _data(tensor, name)
        if self.all_numeric:
            if datatype not in _NUMERIC_REQUEST_TYPES:
                raise RequestError(f"input '{name}': datatype {datatype} but features are numeric")
            matrix = _numbers(data, name)
            if matrix.size != n * self.width:
                needed = n * self.width
                raise RequestError(
                    f"input '{name}': shape {shape} needs {needed} values, got {matrix.size}"
                )
            return self._split(
                matrix.reshape(n, self.width), name, _at("inputs[0] row {}", self)
            ), n
        flat = _flatten(data)
        if len(flat) != n * self.width:
            raise RequestError(
                f"input '{name}': shape {shape} needs {n * self.width} values, got {len(flat)}"
            )
        locate = _at("inputs[0] row {}", self)
        return [
            self._convert(c, flat[i :: self.width], f"input '{name}' column '{c.name}'", i, locate)
            for i, c in enumerate(self.columns)
        ], n

    def _v2_columns(self, inputs: list[dict[str, Any]]) -> tuple[Columns, int]:
        found: list[np.ndarray | None] = [None] * self.width
        n = -1
        for position, tensor in enumerate(inputs):
            name = tensor.get("name")
            if not isinstance(name, str):
                raise RequestError("every input needs a string 'name'")
            i = self.index.get(name)
            if i is None:
                raise RequestError(
                    f"unknown input '{name}'; this model takes {list(self.names)} "
                    f"(or one tensor of shape [n, {self.width}])"
                )
            if found[i] is not None:
                raise RequestError(f"input '{name}' is given twice")
            column = self.columns[i]
            shape = _shape(tensor, name)
            if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
                raise RequestError(f"input '{name}' must have shape [n] or [n, 1], got {shape}")
            datatype = _datatype(tensor, name)
            if column.is_bytes != (datatype == "BYTES") or (
                not column.is_bytes and datatype not in _NUMERIC_REQUEST_TYPES
            ):
                raise RequestError(
                    f"input '{name}' has datatype {datatype}; the model expects {column.datatype}"
                )
            locate = _at(f"inputs[{position}] row {{}}", self)
            values = self._convert(column, _data(tensor, name), f"input '{name}'", i, locate)
            if values.shape[0] != shape[0]:
                raise RequestError(
                    f"input '{name}': shape {shape} needs {shape[0]} values, got {values.shape[0]}"
                )
            if n < 0:
                n = shape[0]
            elif shape[0] != n:
                raise RequestError(
                    f"input '{name}' has {shape[0]} rows but earlier inputs have {n}"
                )
            found[i] = values
        missing = [self.names[i] for i, v in enumerate(found) if v is None]
        if missing:
            raise RequestError(f"missing inputs: {missing}")
        if n == 0:
            raise RequestError("empty input: the request has no rows")
        return found, n  # type: ignore[return-value]

    # --- V1 -----------------------------------------------------------------------------------
    def from_instances(self, body: Any) -> tuple[Columns, int]:
        if not isinstance(body, dict) or "instances" not in body:
            raise RequestError("request body must be a JSON object with an 'instances' list")
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RequestError("'instances' must be a list")
        if not instances:
            raise RequestError("empty input: 'instances' has no rows")
        if isinstance(instances[0], dict):
            return self.from_records(instances, "instances[{}]")
        n = len(instances)
        if self.all_numeric:
            matrix = _numbers(instances, "instances")
            if matrix.ndim == 1 and self.width == 1:
                matrix = matrix.reshape(n, 1)
            if matrix.ndim != 2 or matrix.shape[1] != self.width:
                raise RequestError(
                    f"'instances' must be rows of {self.width} values in signature order "
                    f"{list(self.names)}; got shape {list(matrix.shape)}"
                )
            return self._split(matrix, "instances", _at("instances[{}]", self)), n
        for k, row in enumerate(instances):
            if not isinstance(row, list) or len(row) != self.width:
                raise RequestError(
                    f"instance {k} must be a list of {self.width} values in signature order "
                    f"{list(self.names)}"
                )
        locate = _at("instances[{}]", self)
        return [
            self._convert(c, [row[i] for row in instances], f"column '{c.name}'", i, locate)
            for i, c in enumerate(self.columns)
        ], n

    # --- records ------------------------------------------------------------------------------
    def from_records(self, records: Any, row: str = "record {}") -> tuple[Columns, int]:
        if isinstance(records, dict) and isinstance(records.get("records"), list):
            records = records["records"]
        if not isinstance(records, list):
            raise RequestError("request body must be a JSON list of records (objects)")
        if not records:
            raise RequestError("empty input: no records")
        for k, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(f"record {k} must be an object of feature: value")
            if len(record) != self.width or not self.name_set.issuperset(record):
                unknown = sorted(set(record) - self.name_set)
                missing = [name for name in self.names if name not in record]
                parts = []
                if missing:
                    parts.append(f"missing features {missing}")
                if unknown:
                    parts.append(f"unknown features {unknown}")
                raise RequestError(f"record {k}: " + "; ".join(parts))
        locate = _at(row, self)
        return [
            self._convert(c, [r[c.name] for r in records], f"feature '{c.name}'", i, locate)
            for i, c in enumerate(self.columns)
        ], len(records)

    # --- values -------------------------------------------------------------------------------
    def _split(self, matrix: np.ndarray, where: str, locate: Locate) -> Columns:
        if self.float_dtype is not None and matrix.dtype.kind != "b":
            if matrix.dtype.kind == "f" and not in_range(matrix, self.datatypes[0]):
                # NaN, infinity or overflow: refused, unless NaN where the model takes it
                with np.errstate(over="ignore"):
                    cast = matrix.astype(self.float_dtype, copy=False)
                check_matrix(matrix, cast, self.allow_nan, self.datatypes, locate)
            else:
                cast = matrix.astype(self.float_dtype, copy=False)
            # [n, 1] views: what the ONNX graph takes, without a reshape per column.
            return [cast[:, i : i + 1] for i in range(self.width)]
        return [
            self._checked(matrix[:, i], c, where, i, locate) for i, c in enumerate(self.columns)
        ]

    def _checked(
        self, array: np.ndarray, column: Column, where: str, i: int, locate: Locate
    ) -> np.ndarray:
        """The column cast to its datatype, refusing the values it does not accept."""
        if array.dtype.kind == "f" and not in_range(array, column.datatype):
            if column.datatype not in ("FP32", "FP64"):
                # NaN or infinity where an integer or boolean belongs (astype would make
                # them garbage or True): always refused.
                check_column(array, array, i, False, column.datatype, locate)
            with np.errstate(over="ignore"):
                cast = array.astype(column.dtype, copy=False)
            check_column(array, cast, i, bool(self.allow_nan[i]), column.datatype, locate)
            return cast  # NaN where the model takes missing values
        return _cast(array, column, where)

    def _convert(self, column: Column, data: Any, where: str, i: int, locate: Locate) -> np.ndarray:
        if column.is_bytes:
            values = _flatten(data) if isinstance(data, list) else data
            if not isinstance(values, list):
                raise RequestError(f"{where}: 'data' must be a list")
            for v in values:
                if not isinstance(v, str):
                    raise RequestError(
                        f"{where}: expected strings for {column.datatype}, got {type(v).__name__}"
                    )
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out
        array = _numbers(data, where)
        return self._checked(array.reshape(-1), column, where, i, locate)


def _at(row: str, signature: CompiledSignature) -> Locate:
    """Where a value is: `row` (a format with the row index) and the feature's name."""
    names = signature.names
    return lambda r, i: f"{row.format(r)}, feature '{names[i]}'"


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise RequestError(f"input '{name}': 'shape' must be a list of non-negative integers")
    return shape


def _datatype(tensor: dict[str, Any], name: str) -> str:
    datatype = tensor.get("datatype")
    if datatype != "BYTES" and datatype not in _NUMERIC_REQUEST_TYPES:
        raise RequestError(f"input '{name}': unknown datatype {datatype!r}")
    return datatype


def _data(tensor: dict[str, Any], name: str) -> list[Any]:
    data = tensor.get("data")
    if not isinstance(data, list):
        raise RequestError(f"input '{name}': 'data' must be a list")
    return data


def _numbers(data: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"{where}: values are not a regular array of numbers ({exc})") from None
    if array.dtype.kind == "O":
        return _nulls_as_nan(array, where)
    if array.dtype.kind not in _NUMBER_KINDS and array.dtype.kind != "b":
        raise RequestError(f"{where}: values must be numbers")
    return array


def _nulls_as_nan(array: np.ndarray, where: str) -> np.ndarray:
    """Numbers with JSON nulls (what JSON has for a missing value; clients that refuse to
    write NaN send it): floats with NaN there, accepted or refused as NaN is."""
    values = array.ravel().tolist()
    if any(v is None for v in values) and all(v is None or type(v) in (int, float) for v in values):
        try:
            return array.astype(np.float64)
        except OverflowError:  # an integer beyond any float
            pass
    raise RequestError(f"{where}: values must be numbers")


def _cast(array: np.ndarray, column: Column, where: str) -> np.ndarray:
    if column.datatype == "BOOL":
        return array.astype(np.bool_)
    if array.dtype.kind == "b":
        raise RequestError(f"{where}: '{column.name}' expects {column.datatype}, got booleans")
    if (
        column.datatype in ("INT32", "INT64")
        and array.dtype.kind == "f"
        and not all(math.isfinite(v) and v == int(v) for v in array.tolist())
    ):
        raise RequestError(f"{where}: '{column.name}' expects integers")
    return array.astype(column.dtype, copy=False)


def _flatten(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item) if isinstance(item, list) else [item])
        return out
    return data
