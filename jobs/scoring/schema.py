"""Report format v2: the `scans`, `segments` and `items` Parquet schemas and their key-value
metadata. v2 adds to v1 (scans' `score_rule`, segments' `item_id`, the `items` table): a v1 reader
reads `scans` and `segments` as before."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

import pyarrow as pa

REPORT_VERSION = 2
REPORT_TABLES = ("scans", "segments", "items")  # a report's folders of Parquet part files

SCANS_SCHEMA = pa.schema([
    ("scan_id", pa.string()),
    ("source", pa.string()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("pipeline", pa.string()),
    ("modality", pa.string()),
    ("model_sha256", pa.string()),
    ("threshold", pa.float32()),
    ("score", pa.float32()),
    ("is_anomalous", pa.bool_()),
    ("n_segments", pa.int32()),
    ("n_anomalous_segments", pa.int32()),
    ("anomalous_area_frac", pa.float32()),
    ("height", pa.int32()),
    ("width", pa.int32()),
    ("latency_ms", pa.float32()),
    ("scored_at", pa.timestamp("us", tz="UTC")),
    ("score_rule", pa.string()),  # v2: how the scan's score came from its segments or items
])

SEGMENTS_SCHEMA = pa.schema([
    ("scan_id", pa.string()),
    ("segment_id", pa.int32()),
    ("score", pa.float32()),
    ("is_anomalous", pa.bool_()),
    ("area_px", pa.int32()),
    ("x0", pa.int32()),
    ("y0", pa.int32()),
    ("x1", pa.int32()),
    ("y1", pa.int32()),
    ("cx", pa.float32()),
    ("cy", pa.float32()),
    ("item_id", pa.int32()),  # v2: the found item it lies in (items.item_id); null for whole-scan models
])

# v2: one row per item an item-first model found: its mask's box (x0, y0, x1, y1; exclusive ends)
# and area in the scan's pixels, the item finder's confidence, the item's score by the model's rule
# and whether it reaches the threshold; the item's class when the model names one (null otherwise)
ITEMS_SCHEMA = pa.schema([
    ("scan_id", pa.string()),
    ("item_id", pa.int32()),
    ("x0", pa.int32()),
    ("y0", pa.int32()),
    ("x1", pa.int32()),
    ("y1", pa.int32()),
    ("area_px", pa.int32()),
    ("detection_score", pa.float32()),
    ("score", pa.float32()),
    ("is_anomalous", pa.bool_()),
    ("item_class", pa.string()),
])


def staged_name(segment_field: str) -> str:
    """Name of a segments column in the staged table (one row per scan, segments as lists)."""
    return segment_field if segment_field.startswith("segment") else f"segment_{segment_field}"


def staged_item_name(item_field: str) -> str:
    """Name of an items column in the staged table (one row per scan, items as lists)."""
    return item_field if item_field.startswith("item") else f"item_{item_field}"


# the scorer's output: a scans row with its segments and items as list columns; the report's
# segments and items tables are these lists exploded, with the row's scan_id
SEGMENT_FIELDS = [f for f in SEGMENTS_SCHEMA if f.name != "scan_id"]
ITEM_FIELDS = [f for f in ITEMS_SCHEMA if f.name != "scan_id"]
STAGED_SCHEMA = pa.schema([*SCANS_SCHEMA,
                           *(pa.field(staged_name(f.name), pa.list_(f.type)) for f in SEGMENT_FIELDS),
                           *(pa.field(staged_item_name(f.name), pa.list_(f.type)) for f in ITEM_FIELDS)])


def dualscan_version() -> str:
    """The installed dualscan package's version ("unknown" when run from a bare checkout)."""
    try:
        return version("dualscan")
    except PackageNotFoundError:
        return "unknown"


def report_metadata(model_sha256: str, config: dict) -> dict[str, str]:
    """The key-value metadata every report file carries."""
    return {"dualscan.report_version": str(REPORT_VERSION), "dualscan.version": dualscan_version(),
            "dualscan.model_sha256": model_sha256,
            "dualscan.config": json.dumps(config, sort_keys=True, default=str)}


def with_metadata(schema: pa.Schema, metadata: dict[str, str]) -> pa.Schema:
    """``schema`` carrying ``metadata`` (keys and values as UTF-8)."""
    return schema.with_metadata({k.encode(): v.encode() for k, v in metadata.items()})
