"""Where an archive came from, for the model cards of what trains on it: the command that made it
and its fingerprint, never a machine's absolute path."""

from __future__ import annotations

from scans.archive import Archive
from scans.synth import GENERATOR, SynthConfig

# SynthConfig's fields as `dualscan synth` spells them
SYNTH_FLAGS = {"world": "--world", "split_by": "--split-by", "hold_out_class": "--hold-out-class",
               "size_jitter": "--size-jitter", "split": "--split", "val": "--val", "pitch_mm": "--pitch-mm",
               "anomaly_rate": "--anomaly-rate", "anomaly_kinds": "--anomaly-kinds",
               "anomaly_scale": "--anomaly-scale", "anomaly_aligned": "--aligned-anomalies",
               "item_classes": "--items", "max_items": "--max-items"}


# what an archive.json written before a field existed meant by its absence
LEGACY = {"world": 1, "split_by": "scan", "hold_out_class": ""}


def _flag(field: str, value) -> str:
    flag = SYNTH_FLAGS[field]
    if isinstance(value, bool):
        return flag
    return f"{flag} {','.join(value) if isinstance(value, list | tuple) else value}"


def synth_command(info: dict) -> str:
    """The `dualscan synth` command that writes the archive an archive.json describes (its n, size
    and seed, then every option its config sets away from the default)."""
    config = info.get("config", {})
    defaults = SynthConfig(world=config.get("world", LEGACY["world"]))
    words = ["dualscan synth --out ARCHIVE",
             *(f"--{k} {config[k]}" for k in ("n", "size", "seed") if k in config)]
    for field in SYNTH_FLAGS:
        value = config.get(field, LEGACY.get(field, getattr(defaults, field)))
        default = getattr(defaults, field) if field != "world" else SynthConfig().world
        if (tuple(value) if isinstance(value, list) else value) != default:
            words.append(_flag(field, value))
    if info.get("only_splits"):
        words.append(f"--only-splits {','.join(info['only_splits'])}")
    return " ".join(words)


def made_by(archive: Archive) -> str:
    """How the archive was made, in words a person can rerun: the simulator's command, or the
    import's source."""
    if archive.info.get("generator") == GENERATOR:
        return synth_command(archive.info)
    source = archive.info.get("source")
    return f"imported by dualscan import from {source}" if source else "not recorded by its archive.json"


def archive_record(archive: Archive) -> dict:
    """What a checkpoint's config.json keeps of its training archive: the command that made it, its
    fingerprint (Archive.fingerprint) and, when the archive was split by model, the item models its
    train split holds (what the model has seen: evaluation tells seen from unseen designs by it)."""
    record = {"archive_made_by": made_by(archive), "archive_fingerprint": archive.fingerprint()}
    train = (archive.info.get("models_by_split") or {}).get("train")
    if train:
        record["train_models"] = {item_class: sorted(ids) for item_class, ids in train.items()}
    return record
