"""Archive v1 rules for one scan's arrays; each broken rule raises ScanFormatError naming it."""

from __future__ import annotations

import numpy as np

from scans.errors import ScanFormatError

# key -> (dtype, number of dimensions)
_SPEC: dict[str, tuple[str, int]] = {
    "high": ("float32", 2),
    "low": ("float32", 2),
    "zeff": ("float32", 2),
    "pseudo": ("uint8", 3),
    "objects": ("int32", 2),
    "parts": ("int32", 2),
    "anomaly": ("uint8", 2),
    "object_anomalous": ("bool", 1),
}
_TEXT_KEYS = ("object_class", "object_anomaly_kind", "object_model")  # 1-D unicode, one entry per item
IMAGE_ARRAYS = ("high", "low", "zeff", "pseudo", "objects", "parts", "anomaly")  # H×W(×3)
ITEM_ARRAYS = ("object_anomalous", *_TEXT_KEYS)  # one entry per item
_ITEM_LABELS = ("objects", "object_class", "object_anomalous")


def header_rule(key: str, dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
    """The rule of archive v1 that an array's dtype and shape break (readable from an .npy header
    before its data is decoded), or None when they keep them or the key is not the format's."""
    if key in _SPEC:
        expected, ndim = _SPEC[key]
        if dtype != np.dtype(expected):
            return f"{key!r} has dtype {dtype}, expected {expected}"
        if len(shape) != ndim:
            return f"{key!r} has {len(shape)} dimensions {tuple(shape)}, expected {ndim}"
        if key == "pseudo" and shape[2] != 3:
            return f"'pseudo' has shape {tuple(shape)}, expected H×W×3"
    elif key in _TEXT_KEYS and (dtype.kind != "U" or len(shape) != 1):
        return f"{key!r} must be a 1-D unicode array, got {dtype} {tuple(shape)}"
    return None


def validate_arrays(arrays: dict[str, np.ndarray], file: str) -> None:
    """Raise ScanFormatError(file, rule) for the first rule of archive v1 that ``arrays`` break."""
    def fail(rule: str) -> None:
        raise ScanFormatError(file, rule)

    has_high, has_low = "high" in arrays, "low" in arrays
    if has_high != has_low:
        present, absent = ("high", "low") if has_high else ("low", "high")
        fail(f"{present!r} is present without {absent!r}")
    if not has_high and "pseudo" not in arrays:
        fail("missing key: needs 'high' and 'low', or 'pseudo'")

    for key in (*_SPEC, *_TEXT_KEYS):
        if key in arrays:
            rule = header_rule(key, arrays[key].dtype, arrays[key].shape)
            if rule:
                fail(rule)

    image_keys = [k for k in IMAGE_ARRAYS if k in arrays]
    reference = image_keys[0]
    size = arrays[reference].shape[:2]
    if min(size) < 1:
        fail(f"{reference!r} is empty: shape {arrays[reference].shape}")
    for key in image_keys[1:]:
        if arrays[key].shape[:2] != size:
            fail(f"{key!r} is {arrays[key].shape[0]}×{arrays[key].shape[1]} but {reference!r} "
                 f"is {size[0]}×{size[1]}: all images of a scan must share H×W")

    for key in ("high", "low", "zeff"):
        if key in arrays and not np.isfinite(arrays[key]).all():
            fail(f"{key!r} contains NaN or infinite values")
    for key in ("high", "low"):
        if key in arrays:
            value = arrays[key]
            lo, hi = float(value.min()), float(value.max())
            if lo <= 0.0 or hi > 1.0:
                fail(f"{key!r} transmissions must lie in (0, 1], found [{lo:g}, {hi:g}]")
    if "zeff" in arrays and float(arrays["zeff"].min()) < 0:
        fail("'zeff' must be >= 0 (0 for air)")

    present = [k for k in _ITEM_LABELS if k in arrays]
    if present and len(present) != len(_ITEM_LABELS):
        missing = [k for k in _ITEM_LABELS if k not in arrays]
        fail(f"item labels are incomplete: {', '.join(present)} present, {', '.join(missing)} missing")
    if present:
        objects = arrays["objects"]
        n_objects = int(objects.max()) if objects.size else 0
        if objects.size and int(objects.min()) < 0:
            fail("'objects' ids must be >= 0 (0 = background)")
        for key in ("object_class", "object_anomalous"):
            if len(arrays[key]) != n_objects:
                fail(f"{key!r} has {len(arrays[key])} entries but 'objects' has ids up to "
                     f"{n_objects}: one entry per item is required")
    if "object_anomaly_kind" in arrays:
        _check_kinds(arrays, fail)
    if "object_model" in arrays:
        if "object_class" not in arrays:
            fail("'object_model' is present without the item labels it describes "
                 "('objects', 'object_class', 'object_anomalous')")
        if len(arrays["object_model"]) != len(arrays["object_class"]):
            fail(f"'object_model' has {len(arrays['object_model'])} entries but there are "
                 f"{len(arrays['object_class'])} items: one entry per item is required")
    if "parts" in arrays and arrays["parts"].size and int(arrays["parts"].min()) < 0:
        fail("'parts' ids must be >= 0 (0 = none)")
    if "anomaly" in arrays and arrays["anomaly"].size and int(arrays["anomaly"].max()) > 1:
        fail("'anomaly' must hold only 0 and 1")


def _check_kinds(arrays: dict[str, np.ndarray], fail) -> None:
    """The optional ``object_anomaly_kind``: 1-D unicode, one entry per item, "" exactly where
    ``object_anomalous`` is false."""
    kinds = arrays["object_anomaly_kind"]
    if "object_anomalous" not in arrays:
        fail("'object_anomaly_kind' is present without the item labels it describes "
             "('objects', 'object_class', 'object_anomalous')")
    anomalous = arrays["object_anomalous"]
    if len(kinds) != len(anomalous):
        fail(f"'object_anomaly_kind' has {len(kinds)} entries but there are {len(anomalous)} items: "
             "one entry per item is required")
    named = kinds != ""
    for i in np.flatnonzero(named != anomalous):
        state = "anomalous" if anomalous[i] else "benign"
        fail(f"'object_anomaly_kind' of item {i + 1} is {str(kinds[i])!r} but the item is {state}: "
             "the kind is \"\" exactly where 'object_anomalous' is false")
