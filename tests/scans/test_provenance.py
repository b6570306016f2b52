"""Where an archive came from: the synth command rebuilt from archive.json makes the same archive,
and the fingerprint follows the archive's content, not where it lies or how Parquet wrote it."""

from __future__ import annotations

import shlex
import shutil

import pyarrow.parquet as pq

from jobs.synth import get_args_parser
from scans.archive import Archive
from scans.provenance import archive_record, made_by
from scans.synth import SynthConfig, synthesise


def test_the_command_rebuilt_from_archive_json_asks_for_the_same_archive(tmp_path):
    config = SynthConfig(n=6, size=48, seed=4, split=0.5, val=0.2, anomaly_kinds=("blade", "wire_bundle"),
                         anomaly_scale=2.0, anomaly_aligned=True, size_jitter=0.1, previews=False)
    root = synthesise(config, str(tmp_path / "a"), workers=1, progress=False, only_splits=("test",))
    command = made_by(Archive(root.uri))
    assert command.startswith("dualscan synth --out ARCHIVE --n 6 --size 48 --seed 4")
    args = get_args_parser().parse_args(shlex.split(command)[2:])  # the real parser reads it
    assert (args.n, args.size, args.seed, args.split, args.val) == (6, 48, 4, 0.5, 0.2)
    assert (args.anomaly_kinds, args.anomaly_scale, args.aligned_anomalies, args.size_jitter) == (
        "blade,wire_bundle", 2.0, True, 0.1)
    assert args.only_splits == "test" and args.anomaly_rate == 0.5  # a default left out stays the default


def test_the_fingerprint_follows_the_content_not_the_place(tmp_path):
    synthesise(SynthConfig(n=4, size=48, seed=1, previews=False), str(tmp_path / "a"), workers=1,
               progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    first = archive_record(Archive(str(tmp_path / "a")))
    moved = archive_record(Archive(str(tmp_path / "moved")))
    assert first == moved and len(first["archive_fingerprint"]) == 64
    table = pq.read_table(tmp_path / "moved" / "manifest.parquet")
    pq.write_table(table, tmp_path / "moved" / "manifest.parquet", compression="gzip")  # other bytes
    assert Archive(str(tmp_path / "moved")).fingerprint() == first["archive_fingerprint"]
    synthesise(SynthConfig(n=4, size=48, seed=2, previews=False), str(tmp_path / "b"), workers=1,
               progress=False)
    assert Archive(str(tmp_path / "b")).fingerprint() != first["archive_fingerprint"]
