"""Before any work: whether a study's archive gives what its space trains on (splits, sub-component
labels for learned SSN features, effective Z for modalities that read it)."""

from __future__ import annotations

from models.catalog import PIPELINES, SSN_FEATURES
from models.spec import ModelSpec
from scans.archive import Archive
from scans.modalities import ZEFF_CALIBRATION, modality_needs_zeff
from study.config import StudyConfig
from study.data import split_ids


def check_archive(config: StudyConfig) -> dict[str, list[str]]:
    """The split ids; a ValueError naming the archive and what it lacks when the space needs what it
    cannot give (reads the manifest, archive.json and one train scan)."""
    archive = Archive(config.data.archive)
    ids = split_ids(config.data, archive)
    space = config.space
    superpixels = [p for p in space.pipelines if PIPELINES.declared(p).superpixels]
    learned = [f for f in space.ssn_features or [ModelSpec.ssn_feature] if SSN_FEATURES.declared(f).learned]
    if superpixels and learned and archive.info.get("parts_labelled") is False:
        raise ValueError(
            f"{archive.uri}: has no sub-component labels (archive.json parts_labelled: false, its parts are "
            f"its items), but the learned SSN features ({', '.join(learned)}) of {', '.join(superpixels)} "
            "train on them: search space.ssn_features without them (pixel, slic), or import the archive "
            "with --part-categories naming its sub-component categories")
    needing_z = [m for m in space.modalities if modality_needs_zeff(m)]
    if needing_z:
        scan = archive.read(ids["train"][0])
        if scan.zeff is None and scan.has_raw and ZEFF_CALIBRATION not in scan.meta:
            raise ValueError(
                f"{archive.uri}: its scans store no effective Z and archive.json names no Z_eff calibration, "
                f"but space.modalities reads Z ({', '.join(needing_z)}): import it again with "
                "--zeff-calibration FILE (docs/formats.md), or search modalities without Z (pseudo, high, "
                "low, high_log, low_log)")
    return ids
