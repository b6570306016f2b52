"""What a scoring job does to each batch: decode its input files (Ray Data tasks) and score them
(an actor pool).

Both are plain Python and run without Ray: ``decode_batch`` is a function of a batch of input rows,
``Scorer`` a class that loads its model once and maps a decoded batch to staged report rows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import torch

from jobs.scoring.inputs import InputFile, decode_scan, model_input, read_payloads
from jobs.scoring.schema import ITEM_FIELDS, SCANS_SCHEMA, SEGMENT_FIELDS, staged_item_name, staged_name
from models.predictions import ScanPrediction, segment_boxes
from models.trained import load_trained_model
from scans.errors import ScanFormatError
from scans.exports import ExportSettings
from scans.limits import ReadLimits
from scans.modalities import build_input, modality_channels
from scans.storage import Location


def _error_text(input_file: InputFile, err: Exception) -> str:
    """A one-line message naming the file: ScanFormatError already does, others get the source."""
    if isinstance(err, ScanFormatError):
        return str(err)
    return f"{input_file.source}: {type(err).__name__}: {err}"


def decode_batch(batch: dict[str, np.ndarray], root: Location, modality: str, size: int | None,
                 limits: ReadLimits | None = None, settings: ExportSettings | None = None) -> dict:
    """Read and decode every input row of ``batch`` within ``limits`` (exported images by
    ``settings``: raw scale, Z_eff calibration): the model input (zeros on
    error), the scan's size, the error message ("" when ok) and the time it took. Never raises for a
    bad file. ``size`` None: each scan at its own size (item-first models see native pitch)."""
    n = len(batch["scan_id"])
    channels = modality_channels(modality)
    images = (np.zeros((n, channels, size, size), np.float32) if size is not None
              else [np.zeros((channels, 1, 1), np.float32) for _ in range(n)])
    heights, widths = np.full(n, -1, np.int32), np.full(n, -1, np.int32)
    errors, millis = [""] * n, np.zeros(n, np.float32)
    for i in range(n):
        start = time.perf_counter()
        input_file = InputFile.from_row({key: values[i] for key, values in batch.items()})
        try:
            scan = decode_scan(input_file, read_payloads(root, input_file, limits), limits, settings)
            heights[i], widths[i] = scan.shape
            images[i] = model_input(scan, modality, size) if size is not None else build_input(scan, modality)
        except Exception as err:  # a bad file becomes its row, whatever breaks in it
            errors[i] = _error_text(input_file, err)
        millis[i] = 1000 * (time.perf_counter() - start)
    return {"scan_id": batch["scan_id"], "source": batch["source"], "image": images, "height": heights,
            "width": widths, "error": np.array(errors, dtype=object), "decode_ms": millis}


def _axis_map(size: int, original: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How an axis of ``size`` model pixels covers ``original`` pixels (original pixel p lies in
    model pixel p·size // original): per model pixel, the count of original pixels, the sum of their
    centres, and the first original pixel at or after it (size + 1 entries)."""
    owner = np.arange(original) * size // original
    count = np.bincount(owner, minlength=size).astype(np.float64)
    centres = np.bincount(owner, weights=np.arange(original) + 0.5, minlength=size)
    first = np.searchsorted(owner, np.arange(size + 1), side="left")
    return count, centres, first


def labels_at(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """A model-size label map at the original height×width: each original pixel takes the label of
    the model pixel it was resized into."""
    size_y, size_x = labels.shape
    return labels[(np.arange(height) * size_y // height)[:, None], (np.arange(width) * size_x // width)]


def _segment_columns(pred: ScanPrediction, flagged: np.ndarray, height: int, width: int) -> dict:
    """One scan's scored segments measured exactly in the original image's pixels (each original
    pixel belongs to the model pixel it was resized into), ``flagged`` as its verdict says."""
    size_y, size_x = pred.labels.shape
    n = len(pred.scores)
    row_count, row_centres, row_first = _axis_map(size_y, height)
    col_count, col_centres, col_first = _axis_map(size_x, width)
    labels = pred.labels.ravel()
    weight = np.outer(row_count, col_count).ravel()
    area = np.bincount(labels, weights=weight, minlength=n)
    sum_x = np.bincount(labels, weights=np.outer(row_count, col_centres).ravel(), minlength=n)
    sum_y = np.bincount(labels, weights=np.outer(row_centres, col_count).ravel(), minlength=n)
    keep, safe = pred.scored, np.maximum(area, 1)
    if height >= size_y and width >= size_x:  # every model pixel covers original pixels
        x0, y0, x1, y1 = pred.boxes[keep].astype(np.int64).T  # model pixels, exclusive ends
        x0, y0, x1, y1 = col_first[x0], row_first[y0], col_first[x1], row_first[y1]
    else:  # an image smaller than the model input: some model pixels cover none, measure directly
        x0, y0, x1, y1 = segment_boxes(labels_at(pred.labels, height, width), n)[keep].T
    item_id = (pred.segment_item[keep] + 1 if pred.segment_item is not None  # −1: no item → 0 → null
               else np.zeros(int(keep.sum()), np.int64))
    return {"segment_id": np.flatnonzero(keep).astype(np.int32), "item_id": item_id.astype(np.int32),
            "score": pred.scores[keep].astype(np.float32),
            "is_anomalous": flagged[keep],
            "area_px": area[keep].astype(np.int32),
            "x0": x0.astype(np.int32), "y0": y0.astype(np.int32),
            "x1": x1.astype(np.int32), "y1": y1.astype(np.int32),
            "cx": (sum_x / safe)[keep].astype(np.float32), "cy": (sum_y / safe)[keep].astype(np.float32)}


def _item_columns(pred: ScanPrediction, threshold: float) -> dict:
    """One scan's found items (item-first models; none for whole-scan ones), ids 1..m as its
    segments' ``item_id`` names them."""
    if pred.item_scores is None:
        return _empty(ITEM_FIELDS)
    m = len(pred.item_scores)
    boxes = np.asarray(pred.item_boxes, np.int64).reshape(-1, 4)
    area = np.array([int(mask.sum()) for mask in pred.item_masks or []], np.int64)
    detection = (pred.item_detection if pred.item_detection is not None
                 else np.full(m, np.nan, np.float32))
    return {"item_id": np.arange(1, m + 1, dtype=np.int32), "x0": boxes[:, 0].astype(np.int32),
            "y0": boxes[:, 1].astype(np.int32), "x1": boxes[:, 2].astype(np.int32),
            "y1": boxes[:, 3].astype(np.int32), "area_px": area.astype(np.int32),
            "detection_score": np.asarray(detection, np.float32),
            "score": np.asarray(pred.item_scores, np.float32),
            "is_anomalous": np.asarray(pred.item_scores) >= threshold,
            "item_class": np.array(pred.item_classes if pred.item_classes is not None else [""] * m,
                                   dtype=object)}


def _empty(fields: list[pa.Field]) -> dict:
    return {f.name: np.zeros(0, object if pa.types.is_string(f.type) else f.type.to_pandas_dtype())
            for f in fields}


def _model_error(source: str, err: Exception) -> str:
    """The error row's message for a scan the model failed on."""
    what = "ran out of memory" if isinstance(err, torch.OutOfMemoryError) else "failed"
    return f"{source}: the model {what} on this scan ({type(err).__name__}: {err})"


def _free_device_memory(err: Exception) -> None:
    """After an out-of-memory error on a GPU, hand its cached blocks back before the next try."""
    if isinstance(err, torch.OutOfMemoryError) and torch.cuda.is_available():
        torch.cuda.empty_cache()


# staged list columns whose zeros (ids) or empty strings (classes) stand for null
NULL_WHEN = {"item_id": 0, "item_class": ""}


def _list_column(values: list[np.ndarray], field: pa.Field) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int32)
    empty = np.zeros(0, object if pa.types.is_string(field.type) else None)
    flat = np.concatenate(values) if values else empty
    mask = (flat == NULL_WHEN[field.name]) if field.name in NULL_WHEN and len(flat) else None
    if field.name == "detection_score" and len(flat):
        mask = np.isnan(flat.astype(np.float64))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=field.type, mask=mask))


class Scorer:
    """Loads the model once per actor; maps a decoded batch to staged rows (one per input: its
    scans columns and its segments as lists)."""

    def __init__(self, model_uri: str, threshold: float | None = None, device: str | None = None,
                 torch_threads: int | None = None, runtime: str = "torch"):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.model = load_trained_model(model_uri, device, threshold, runtime)

    def predict(self, images, scan_ids: list[str]) -> list[ScanPrediction]:
        """The model's predictions of decoded scans ``images`` (a (B, C, S, S) array or a list of
        C×H×W ones), whose ids are ``scan_ids``."""
        return self.model.predict(images)

    def _predict_each(self, images, scan_ids: list[str], sources: list[str]) -> list[ScanPrediction | str]:
        """The batch's predictions; when the model fails on the batch (an out-of-memory error
        first frees the device's cache), each scan alone, and a scan the model still fails on
        becomes its error message, naming the file and the cause: one row lost, not the job."""
        try:
            return list(self.predict(images, scan_ids))
        except Exception as err:  # whatever the model raises: the scans are retried one by one
            if len(scan_ids) == 1:
                return [_model_error(sources[0], err)]
            _free_device_memory(err)
        out: list[ScanPrediction | str] = []
        for i, (scan_id, source) in enumerate(zip(scan_ids, sources, strict=True)):
            try:
                out.append(self.predict(images[i:i + 1], [scan_id])[0])
            except Exception as err:  # this scan alone fails: its row says why
                _free_device_memory(err)
                out.append(_model_error(source, err))
        return out

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        model, n = self.model, len(batch["scan_id"])
        ok = np.array([not e for e in batch["error"]], dtype=bool)
        start = time.perf_counter()
        images = batch["image"]
        if isinstance(images, np.ndarray) and images.dtype != object:
            chosen = images[ok]
        else:  # native-size scans: one array each
            chosen = [x for x, keep in zip(images, ok, strict=True) if keep]
        chosen_ids = [str(batch["scan_id"][i]) for i in np.flatnonzero(ok)]
        chosen_sources = [str(batch["source"][i]) for i in np.flatnonzero(ok)]
        predictions = iter(self._predict_each(chosen, chosen_ids, chosen_sources) if ok.any() else [])
        model_ms = 1000 * (time.perf_counter() - start) / max(int(ok.sum()), 1)
        now = datetime.now(UTC)
        rows, segments, items = [], {f.name: [] for f in SEGMENT_FIELDS}, {f.name: [] for f in ITEM_FIELDS}
        for i in range(n):
            row = {"scan_id": str(batch["scan_id"][i]), "source": str(batch["source"][i]),
                   "pipeline": model.pipeline, "modality": model.modality, "model_sha256": model.sha256,
                   "threshold": model.threshold, "scored_at": now,
                   "latency_ms": float(batch["decode_ms"][i]) + (model_ms if ok[i] else 0.0)}
            pred = next(predictions) if ok[i] else None
            found = (_item_columns(pred, model.threshold) if isinstance(pred, ScanPrediction)
                     else _empty(ITEM_FIELDS))
            if isinstance(pred, str):  # the model failed on this scan
                columns = _empty(SEGMENT_FIELDS)
                row.update(status="error", error=pred, height=int(batch["height"][i]),
                           width=int(batch["width"][i]))
            elif pred is not None:
                height, width = int(batch["height"][i]), int(batch["width"][i])
                verdict = pred.verdict(model.threshold)
                columns = _segment_columns(pred, verdict.flagged, height, width)
                anomalous = columns["is_anomalous"]
                row.update(status="ok", error=None, height=height, width=width, score=verdict.score,
                           score_rule=pred.score_rule or "highest segment score",
                           is_anomalous=verdict.is_anomalous, n_segments=len(anomalous),
                           n_anomalous_segments=int(anomalous.sum()),
                           anomalous_area_frac=float(columns["area_px"][anomalous].sum()) / (height * width))
            else:
                columns = _empty(SEGMENT_FIELDS)
                row.update(status="error", error=str(batch["error"][i]))
            rows.append(row)
            for name, values in columns.items():
                segments[name].append(values)
            for name, values in found.items():
                items[name].append(values)
        table = pa.Table.from_pylist(rows, schema=SCANS_SCHEMA)
        for field in SEGMENT_FIELDS:
            table = table.append_column(staged_name(field.name), _list_column(segments[field.name], field))
        for field in ITEM_FIELDS:
            table = table.append_column(staged_item_name(field.name), _list_column(items[field.name], field))
        return table
