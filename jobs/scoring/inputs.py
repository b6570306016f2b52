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
from scans.exports import (
    EXPORT_EXTENSIONS,
    RAW_SCALE_FILE,
    ROLE_SUFFIXES,
    ROLES,
    ExportSettings,
    RawScale,
    assemble_scan,
    group_exports,
    read_raw_scale,
)
from scans.images import open_image
from scans.limits import ReadLimits
from scans.modalities import (
    ZEFF_CALIBRATION,
    ModalityError,
    build_input,
    modality_needs_raw,
    modality_needs_zeff,
)
from scans.record import Scan
from scans.storage import Location, locate
from scans.zeff_calibration import CALIBRATION_FILE, load_calibration, read_calibration

MIN_SIDE = 16  # the smallest scan side a model can segment
PEEK_FILES = 5  # files read before any work to check that the archive can give the model's modality


@dataclass(frozen=True)
class InputFile:
    """One scan to score: its id, the URI the report names, the paths to read (one file, or a raw
    pair's high and low), how to decode them and, from a manifest, the size it must have."""

    scan_id: str
    source: str
    paths: tuple[str, ...]
    kind: str  # "npz", or "exports": a scanner's images of one scan, each path with its role
    height: int = -1
    width: int = -1
    pitch_mm: float = -1.0  # the archive's detector pitch, -1 when unknown (Z_eff is smoothed in mm)
    roles: tuple[str, ...] = ()  # exports: each path's role (pseudo, high, low, zeff; scans.exports)

    def as_row(self) -> dict:
        """A row for ``ray.data.from_items``."""
        return {**asdict(self), "paths": list(self.paths), "roles": list(self.roles)}

    @classmethod
    def from_row(cls, row: dict) -> InputFile:
        return cls(str(row["scan_id"]), str(row["source"]), tuple(str(p) for p in row["paths"]),
                   str(row["kind"]), int(row["height"]), int(row["width"]), float(row.get("pitch_mm", -1.0)),
                   tuple(str(r) for r in row.get("roles", ())))

    @classmethod
    def exports(cls, scan_id: str, source: str, files: dict[str, str]) -> InputFile:
        """A scan of exported images: ``files`` maps each role to its path, the pseudo-colour image
        (else the high image, else the first) named as the report's source."""
        roles = tuple(role for role in ROLES if role in files)
        return cls(scan_id, source, tuple(files[role] for role in roles), "exports", roles=roles)


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
    """.npz files and, by the naming scheme of scans.exports, each scan's exported images (X.png
    pseudo-colour, X_high and X_low raw, X_zeff) anywhere under a folder."""
    files = root.fs.get_file_info(pafs.FileSelector(root.path, recursive=True))
    inputs, exported = [], []
    for info in sorted((f for f in files if f.is_file), key=lambda f: f.path):
        relative = info.path[len(root.path.rstrip("/")) + 1:]
        stem, dot, ext = relative.rpartition(".")
        stem, ext = (stem, f".{ext.lower()}") if dot else (relative, "")
        if ext == ".npz":
            inputs.append(InputFile(stem, root.uri_of(relative), (info.path,), "npz"))
        elif ext in EXPORT_EXTENSIONS:
            exported.append((stem, relative))
    for scan_id, by_role in group_exports(exported).items():
        shown = by_role.get("pseudo") or by_role.get("high") or next(iter(by_role.values()))
        inputs.append(InputFile.exports(scan_id, root.uri_of(shown),
                                        {role: root.join(relative) for role, relative in by_role.items()}))
    return inputs


def export_settings(root: Location, raw_scale: RawScale | None = None,
                    zeff_calibration: str | None = None) -> ExportSettings:
    """How to decode the inputs under ``root``: the raw scale given (else the folder's
    raw_scale.json, else each bit depth's full scale) and the Z_eff calibration given (a file or
    ``simulator``; else the folder's zeff_calibration.json, else an archive's own, else none)."""
    if raw_scale is None and root.exists(RAW_SCALE_FILE):
        raw_scale = read_raw_scale(root.read_bytes(RAW_SCALE_FILE), root.uri_of(RAW_SCALE_FILE))
    if zeff_calibration is not None:
        calibration = load_calibration(zeff_calibration)[0]
    elif root.exists(CALIBRATION_FILE) and not root.exists("archive.json"):
        calibration = read_calibration(root.read_bytes(CALIBRATION_FILE), root.uri_of(CALIBRATION_FILE))
    elif root.exists("archive.json"):
        calibration = Archive(root).zeff_calibration
    else:
        calibration = None
    return ExportSettings(raw_scale or RawScale(), calibration)


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
        raise ArchiveError(f"{root.uri}: holds no scans (.npz, {', '.join(EXPORT_EXTENSIONS)} files)")
    return root, inputs


def decode_scan(input_file: InputFile, payloads: list[bytes], limits: ReadLimits | None = None,
                settings: ExportSettings | None = None) -> Scan:
    """The scan in ``payloads`` (the bytes of ``input_file.paths``), decoded within ``limits``, exported
    images by ``settings`` (raw scale, Z_eff calibration); ScanFormatError names the broken rule."""
    limits, settings = limits or ReadLimits.from_env(), settings or ExportSettings()
    if input_file.kind == "npz":
        shape = (input_file.height, input_file.width) if input_file.height >= 0 else None
        scan = read_scan_bytes(payloads[0], input_file.source, scan_id=input_file.scan_id, limits=limits,
                               shape=shape, pitch_mm=input_file.pitch_mm,
                               zeff_calibration=settings.zeff_calibration, source=input_file.source)
    elif input_file.kind == "exports":
        images = {}
        for role, path, data in zip(input_file.roles, input_file.paths, payloads, strict=True):
            # the source is the first file's URI
            file = input_file.source if path == input_file.paths[0] else path
            images[role] = (open_image(data, file, limits), file)
        scan = assemble_scan(input_file.scan_id, images, settings, input_file.source)
    else:
        raise ValueError(f"unknown input kind {input_file.kind!r}")
    height, width = scan.shape  # a manifest's H×W (npz rows only) was checked from the headers
    if min(height, width) < MIN_SIDE:
        raise ScanFormatError(input_file.source, f"scan is {height}×{width}; scoring needs at least "
                                           f"{MIN_SIDE}×{MIN_SIDE}")
    return scan


def read_payloads(root: Location, input_file: InputFile, limits: ReadLimits | None = None) -> list[bytes]:
    """The bytes of each of ``input_file``'s files; a file that cannot be read, or is larger than
    ``limits`` allow, is a ScanFormatError."""
    limits = limits or ReadLimits.from_env()
    if input_file.kind == "exports" and ("high" in input_file.roles) != ("low" in input_file.roles):
        lack = "low" if "high" in input_file.roles else "high"
        raise ScanFormatError(input_file.source, f"raw pair incomplete: "
                                                 f"{input_file.scan_id}{ROLE_SUFFIXES[lack]} is missing")
    return [read_bounded(root.fs, path, input_file.source, limits) for path in input_file.paths]


def model_input(scan: Scan, modality: str, size: int) -> np.ndarray:
    """The scan as the model sees it: the modality's C×size×size float32, resized as in training."""
    return resize_square(build_input(scan, modality), size, labels=False)


def check_modality(root: Location, inputs: list[InputFile], modality: str,
                   limits: ReadLimits | None = None, settings: ExportSettings | None = None) -> None:
    """Fail before any work when the inputs cannot give ``modality``: raw high/low it needs, or
    effective Z it needs where the raw scans store none and no calibration was given."""
    settings = settings or ExportSettings()
    if not modality_needs_raw(modality):
        return
    if not any(f.kind == "npz" or "high" in f.roles for f in inputs):
        raise ModalityError(f"{root.uri}: the model needs modality {modality!r} (raw high/low), but the "
                            "folder holds only pseudo-colour images; score it with a pseudo-colour model "
                            "or provide X_high/X_low raw images (docs/formats.md)")
    needs_z = modality_needs_zeff(modality) and settings.zeff_calibration is None
    if needs_z and any(f.kind == "exports" and "high" in f.roles and "zeff" not in f.roles for f in inputs):
        raise ModalityError(f"{root.uri}: the model needs effective Z (modality {modality!r}), but the raw "
                            "scans have no X_zeff images and no Z_eff calibration was given: pass "
                            "--zeff-calibration FILE (or `simulator` for scans the simulator made), or put "
                            f"{CALIBRATION_FILE} in the folder (docs/formats.md)")
    for input_file in [i for i in inputs if i.kind == "npz"][:PEEK_FILES]:
        try:
            scan = decode_scan(input_file, read_payloads(root, input_file, limits), limits, settings)
        except ScanFormatError:
            continue  # a bad file is reported in its row; look at the next one
        if not scan.has_raw:
            raise ModalityError(f"{root.uri}: the model needs modality {modality!r} (raw high/low), but "
                                f"{input_file.source} has only pseudo-colour; score this archive with a "
                                "pseudo-colour model")
        if modality_needs_zeff(modality) and scan.zeff is None and ZEFF_CALIBRATION not in scan.meta:
            raise ModalityError(f"{root.uri}: the model needs effective Z (modality {modality!r}), but "
                                f"{input_file.source} stores none and no Z_eff calibration was given: pass "
                                "--zeff-calibration FILE (docs/formats.md)")
        return
