"""A scoring job's inputs: the files of an archive v1 or an image folder, read and decoded per file.

Bytes are read by our own code (not ``ray.data.read_binary_files`` / ``read_images``) so that a file
that cannot be read or decoded becomes an error row instead of failing the read task and the job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow.fs as pafs

from models.inputs import resize_square
from scans.archive import Archive, read_bounded, read_scan_bytes
from scans.errors import ArchiveError, ScanFormatError
from scans.images import RAW_MODES, open_image
from scans.limits import ReadLimits
from scans.modalities import ModalityError, build_input, modality_needs_raw
from scans.record import Scan
from scans.storage import Location, locate

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff")
RAW_SUFFIXES = ("_high", "_low")  # X_high.png + X_low.png: one scan's 16-bit raw transmissions
MIN_SIDE = 16  # the smallest scan side a model can segment
RAW_FULL_SCALE = 65535.0  # a 16-bit raw value v is the transmission max(v, 1) / 65535
PEEK_FILES = 5  # files read before any work to check that the archive can give the model's modality


@dataclass(frozen=True)
class InputFile:
    """One scan to score: its id, the URI the report names, the paths to read (one file, or a raw
    pair's high and low), how to decode them and, from a manifest, the size it must have."""

    scan_id: str
    source: str
    paths: tuple[str, ...]
    kind: str  # "npz", "image" (pseudo-colour) or "raw_pair"
    height: int = -1
    width: int = -1
    pitch_mm: float = -1.0  # the archive's detector pitch, -1 when unknown (Z_eff is smoothed in mm)

    def as_row(self) -> dict:
        """A row for ``ray.data.from_items``."""
        return {**asdict(self), "paths": list(self.paths)}

    @classmethod
    def from_row(cls, row: dict) -> InputFile:
        return cls(str(row["scan_id"]), str(row["source"]), tuple(str(p) for p in row["paths"]),
                   str(row["kind"]), int(row["height"]), int(row["width"]), float(row.get("pitch_mm", -1.0)))


def _archive_inputs(root: Location) -> list[InputFile]:
    """Every manifest row (a missing file becomes an error row later) and every .npz under scans/
    that the manifest does not list."""
    archive = Archive(root)
    pitch = archive.pitch_mm or -1.0
    inputs, listed = [], set()
    for row in archive.manifest.to_pylist():
        path = root.join(row["file"])
        listed.add(path)
        inputs.append(InputFile(row["scan_id"], root.uri_of(row["file"]), (path,), "npz",
                                int(row["height"]), int(row["width"]), pitch))
    for info in root.fs.get_file_info(pafs.FileSelector(root.join("scans"), allow_not_found=True)):
        if info.is_file and info.path not in listed and info.base_name.endswith(".npz"):
            scan_id = info.base_name.removesuffix(".npz")
            inputs.append(InputFile(scan_id, root.uri_of(f"scans/{info.base_name}"), (info.path,), "npz",
                                    pitch_mm=pitch))
    return inputs


def archive_truth(root: Location, inputs: list[InputFile]) -> dict[str, bool]:
    """Each input's label from its archive's manifest (``is_anomalous``), keyed by source; empty for
    a folder of files or an unlabelled archive."""
    if not root.exists("archive.json"):
        return {}
    rows = Archive(root).manifest.select(["scan_id", "is_anomalous"]).to_pylist()
    labelled = {r["scan_id"]: bool(r["is_anomalous"]) for r in rows if r["is_anomalous"] is not None}
    return {i.source: labelled[i.scan_id] for i in inputs if i.scan_id in labelled}


def _folder_inputs(root: Location) -> list[InputFile]:
    """.npz files, pseudo-colour images, and X_high/X_low raw pairs anywhere under a folder."""
    files = root.fs.get_file_info(pafs.FileSelector(root.path, recursive=True))
    inputs, pairs = [], {}
    for info in sorted((f for f in files if f.is_file), key=lambda f: f.path):
        relative = info.path[len(root.path.rstrip("/")) + 1:]
        stem, dot, ext = relative.rpartition(".")
        stem, ext = (stem, f".{ext.lower()}") if dot else (relative, "")
        if ext == ".npz":
            inputs.append(InputFile(stem, root.uri_of(relative), (info.path,), "npz"))
        elif ext in IMAGE_EXTENSIONS:
            suffix = next((s for s in RAW_SUFFIXES if stem.endswith(s)), None)
            if suffix is None:
                inputs.append(InputFile(stem, root.uri_of(relative), (info.path,), "image"))
            else:
                pairs.setdefault(stem.removesuffix(suffix), {})[suffix] = (relative, info.path)
    for scan_id, pair in sorted(pairs.items()):
        high, low = pair.get("_high"), pair.get("_low")
        first = high or low
        paths = (high[1] if high else "", low[1] if low else "")
        inputs.append(InputFile(scan_id, root.uri_of(first[0]), paths, "raw_pair"))
    return inputs


def list_inputs(uri: str) -> tuple[Location, list[InputFile]]:
    """The inputs under ``uri``: an archive v1 when it holds archive.json, else a folder of files."""
    root = locate(uri)
    if not root.exists():
        raise FileNotFoundError(f"{root.uri}: the archive or folder to score does not exist")
    if root.fs.get_file_info(root.path).type != pafs.FileType.Directory:
        raise NotADirectoryError(f"{root.uri}: expected an archive or a folder of scans, found a file")
    found = _archive_inputs(root) if root.exists("archive.json") else _folder_inputs(root)
    inputs = list(dict.fromkeys(found))  # a manifest that lists a file twice scores it once
    if not inputs:
        raise ArchiveError(f"{root.uri}: holds no scans (.npz, {', '.join(IMAGE_EXTENSIONS)} files)")
    return root, inputs


def _pseudo_image(data: bytes, file: str, limits: ReadLimits) -> np.ndarray:
    image = open_image(data, file, limits)
    if image.mode in (*RAW_MODES, "F"):
        raise ScanFormatError(file, f"a {image.mode} image is raw, not pseudo-colour: name a raw pair "
                                    "X_high.png and X_low.png")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _raw_image(data: bytes, file: str, limits: ReadLimits) -> np.ndarray:
    image = open_image(data, file, limits)
    if image.mode not in RAW_MODES:
        raise ScanFormatError(file, f"a raw transmission image must be 16-bit greyscale, not {image.mode}")
    transmission = np.asarray(image).astype(np.float32)  # one copy: 16-bit values are exact in float32
    low, high = float(transmission.min()), float(transmission.max())
    if low < 0 or high > RAW_FULL_SCALE:
        raise ScanFormatError(file, f"16-bit values out of range [{low:g}, {high:g}]")
    np.maximum(transmission, 1.0, out=transmission)
    transmission /= np.float32(RAW_FULL_SCALE)
    return transmission


def decode_scan(item: InputFile, payloads: list[bytes], limits: ReadLimits | None = None) -> Scan:
    """The scan in ``payloads`` (the bytes of ``item.paths``), decoded within ``limits``;
    ScanFormatError names the broken rule."""
    limits = limits or ReadLimits.from_env()
    if item.kind == "npz":
        shape = (item.height, item.width) if item.height >= 0 else None
        scan = read_scan_bytes(payloads[0], item.source, scan_id=item.scan_id, limits=limits, shape=shape,
                               source=item.source)
        if item.pitch_mm > 0:  # as Archive.read does, so Z_eff is derived as in training
            scan.meta["pitch_mm"] = item.pitch_mm
    elif item.kind == "image":
        scan = Scan(item.scan_id, pseudo=_pseudo_image(payloads[0], item.source, limits), source=item.source)
    elif item.kind == "raw_pair":
        high, low = (_raw_image(p, f"{item.scan_id}{s}", limits)
                     for p, s in zip(payloads, RAW_SUFFIXES, strict=True))
        if high.shape != low.shape:
            raise ScanFormatError(item.source, f"high is {high.shape[0]}×{high.shape[1]} but low is "
                                               f"{low.shape[0]}×{low.shape[1]}")
        scan = Scan(item.scan_id, high=high, low=low, source=item.source)
    else:
        raise ValueError(f"unknown input kind {item.kind!r}")
    height, width = scan.shape  # a manifest's H×W (npz rows only) was checked from the headers
    if min(height, width) < MIN_SIDE:
        raise ScanFormatError(item.source, f"scan is {height}×{width}; scoring needs at least "
                                           f"{MIN_SIDE}×{MIN_SIDE}")
    return scan


def read_payloads(root: Location, item: InputFile, limits: ReadLimits | None = None) -> list[bytes]:
    """The bytes of each of ``item``'s files; a file that cannot be read, or is larger than
    ``limits`` allow, is a ScanFormatError."""
    limits = limits or ReadLimits.from_env()
    if item.kind == "raw_pair":
        for path, suffix in zip(item.paths, RAW_SUFFIXES, strict=True):
            if not path:
                raise ScanFormatError(item.source, f"raw pair incomplete: {item.scan_id}{suffix} is missing")
    return [read_bounded(root.fs, path, item.source, limits) for path in item.paths]


def model_input(scan: Scan, modality: str, size: int) -> np.ndarray:
    """The scan as the model sees it: the modality's C×size×size float32, resized as in training."""
    return resize_square(build_input(scan, modality), size, labels=False)


def check_modality(root: Location, inputs: list[InputFile], modality: str,
                   limits: ReadLimits | None = None) -> None:
    """Fail before any work when the inputs cannot give ``modality`` (raw high/low it needs)."""
    if not modality_needs_raw(modality):
        return
    if not any(item.kind in ("npz", "raw_pair") for item in inputs):
        raise ModalityError(f"{root.uri}: the model needs modality {modality!r} (raw high/low), but the "
                            "folder holds only pseudo-colour images; score it with a pseudo-colour model "
                            "or provide X_high/X_low 16-bit pairs")
    for item in [i for i in inputs if i.kind == "npz"][:PEEK_FILES]:
        try:
            scan = decode_scan(item, read_payloads(root, item, limits), limits)
        except ScanFormatError:
            continue  # a bad file is reported in its row; look at the next one
        if not scan.has_raw:
            raise ModalityError(f"{root.uri}: the model needs modality {modality!r} (raw high/low), but "
                                f"{item.source} has only pseudo-colour; score this archive with a "
                                "pseudo-colour model")
        return
