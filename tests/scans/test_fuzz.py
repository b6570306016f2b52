"""Fuzzing every reader a scoring job uses: each mutated file is a valid Scan or a ScanFormatError,
read within a time and memory bound (measured in a process of its own); nothing else escapes.
``--fuzz-n N`` for long runs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from jobs.scoring.inputs import InputFile, decode_scan
from scans.archive import Archive
from scans.errors import ScanFormatError
from scans.limits import ReadLimits
from scans.npz import encode_npz
from scans.validate import validate_arrays
from testkit.hostile import IMAGE_MUTATIONS, Cost, IsolatedMeasure, image_bytes, mutate, npz_mutations

LIMITS = ReadLimits(max_pixels=1024 * 1024)  # the suite's limit: bombs above it are quick to build
SECONDS_PER_FILE = 10.0  # a file that inflates a bomb's gigabytes shows in its memory first
PEAK_BYTES_PER_FILE = 128 * 1024**2  # 1 Mpx × the format's 24 bytes per pixel, with room for copies;
# traced (Python, numpy) and peak RSS growth (Pillow's and zlib's buffers too) are both held to it
SEED = 2026


@pytest.fixture(scope="module")
def seeds(small_archive) -> dict[str, list[tuple[InputFile, list[bytes]]]]:
    """Valid files of every kind the scoring job accepts, with the InputFile that names them."""
    archive = Archive(small_archive)
    scan = archive.read(archive.scan_ids[0])
    pseudo_only = {"pseudo": scan.pseudo}
    high = (np.clip(scan.high, 1 / 65535, 1) * 65535).astype(np.uint16)
    low = (np.clip(scan.low, 1 / 65535, 1) * 65535).astype(np.uint16)
    npz = [(InputFile("a", "a.npz", ("a.npz",), "npz", 96, 96), [encode_npz(scan.arrays())]),
           (InputFile("b", "b.npz", ("b.npz",), "npz"), [encode_npz(pseudo_only)])]
    image = [(InputFile.exports("c", f"c.{f.lower()}", {"pseudo": f"c.{f.lower()}"}),
              [image_bytes(scan.pseudo, f)]) for f in ("PNG", "TIFF")]
    raw = [(InputFile.exports("d", f"d_high.{f.lower()}", {"high": f"d_high.{f.lower()}",
                                                           "low": f"d_low.{f.lower()}"}),
            [image_bytes(high, f), image_bytes(low, f)]) for f in ("PNG", "TIFF")]
    for item, payloads in npz + image + raw:
        assert decode_scan(item, payloads, LIMITS).shape == (96, 96), item  # the seeds are valid
    return {"npz": npz, "image": image, "raw_pair": raw}


def decode_and_validate(item: InputFile, payloads: list[bytes]) -> None:
    """Read a file as scoring does; what was read must be a valid scan."""
    scan = decode_scan(item, payloads, LIMITS)
    validate_arrays(scan.arrays(), item.source)


def _read(item: InputFile, payloads: list[bytes], measure: IsolatedMeasure) -> tuple[str, Cost]:
    """The outcome ("scan", "refused" or "escaped") of reading a mutated file, and its cost."""
    cost = measure(decode_and_validate, item, payloads)
    if cost.raised is None:
        return "scan", cost
    return ("refused" if isinstance(cost.raised, ScanFormatError) else "escaped"), cost


def test_every_mutated_file_is_read_or_refused_within_bounds(seeds, fuzz_n, measure_alone):
    rng = np.random.default_rng(SEED)
    kinds = list(seeds)
    outcomes, mutations, problems = Counter(), Counter(), []
    for case in range(fuzz_n):
        kind = kinds[case % len(kinds)]
        item, payloads = seeds[kind][int(rng.integers(0, len(seeds[kind])))]
        target = int(rng.integers(0, len(payloads)))
        name, mutated = mutate(payloads[target], "npz" if kind == "npz" else "image", rng, LIMITS.max_pixels)
        mutations[name] += 1
        payloads = [mutated if i == target else p for i, p in enumerate(payloads)]
        outcome, cost = _read(item, payloads, measure_alone)
        outcomes[outcome] += 1
        where, error = f"case {case} ({kind}, {name}, seed {SEED})", cost.raised
        if outcome == "escaped":
            problems.append(f"{where}: {type(error).__name__}: {error}")
        elif outcome == "refused" and not str(error).startswith(f"{error.file}: "):
            problems.append(f"{where}: the error does not name the file: {error}")
        if cost.seconds > SECONDS_PER_FILE:
            problems.append(f"{where}: took {cost.seconds:.2f} s")
        if max(cost.traced_bytes, cost.rss_bytes or 0) > PEAK_BYTES_PER_FILE:
            problems.append(f"{where}: allocated {cost.traced_bytes / 1e6:.0f} MB traced, "
                            f"{(cost.rss_bytes or 0) / 1e6:.0f} MB resident")
    print(f"fuzz: {fuzz_n} files, {dict(outcomes)}; mutations {dict(mutations)}")
    assert not problems, "\n".join(problems[:30])
    assert outcomes["refused"] > fuzz_n // 4, outcomes  # the mutations do break files
    if fuzz_n >= 200:  # every mutation ran, and some mutated files are still valid scans
        assert set(mutations) == {m.name for m in npz_mutations(1) + IMAGE_MUTATIONS}, mutations
        assert outcomes["scan"] > 0, outcomes
