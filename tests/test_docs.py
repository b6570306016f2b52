"""The README and docs/ hold true: every link and anchor resolves, every page an error message points
to exists, every `dualscan` command they name is one, and the format examples read as the readers
read them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "cluster" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
PACKAGES = ("scans", "models", "study", "jobs", "pages")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings (code blocks skipped)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    """The relative links of ``page`` (web addresses left out)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+://", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_anchor_resolves(page):
    assert page.exists()
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: link {target!r}: no file {file}"
        if anchor:
            assert anchor in anchors(file), f"{page.name}: link {target!r}: {file.name} has no such heading"


def test_every_docs_page_the_code_points_to_exists():
    named = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            named |= set(re.findall(r"docs/[\w-]+\.md", source.read_text()))
    assert "docs/formats.md" in named  # error messages point there
    for page in named:
        assert (ROOT / page).exists(), f"the code points to {page}, which does not exist"


def test_every_command_the_pages_name_is_a_command():
    from jobs.commands import COMMANDS

    named = set()
    for page in PAGES:
        named |= set(re.findall(r"\bdualscan ([a-z][a-z-]+)", page.read_text()))
    named -= {"model"}  # prose: "a DualScan model"
    unknown = sorted(named - set(COMMANDS))
    assert not unknown, f"pages name commands that do not exist: {unknown}"
    assert {"synth", "import", "study", "train", "calibrate", "evaluate", "score", "report-html"} <= named


def test_the_readme_opens_with_what_it_is_its_picture_and_the_two_commands():
    lines = (ROOT / "README.md").read_text().split("\n")
    first_screen = "\n".join(lines[:40])
    picture = re.search(r"!\[[^\]]+\]\(([^)]+)\)", first_screen)
    assert picture and (ROOT / picture.group(1)).exists()
    assert "make demo" in first_screen and "make test" in first_screen
    contents = "\n".join(lines[:80])
    for page in ("docs/paper-study.md", "docs/own-data.md", "docs/scoring.md", "docs/clusters.md",
                 "docs/formats.md"):
        assert f"]({page})" in contents, f"the README's contents do not link {page}"


def _json_blocks(page: str) -> list[dict]:
    text = (ROOT / "docs" / page).read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_format_pages_examples_read_as_the_readers_read_them():
    from scans.exports import RAW_SCALE_FILE, read_raw_scale
    from scans.physics.calibration import effective_z
    from scans.zeff_calibration import CALIBRATION_FORMAT, read_calibration

    blocks = _json_blocks("formats.md")
    raw = next(b for b in blocks if "high" in b and "format" not in b)
    scale = read_raw_scale(json.dumps(raw).encode(), RAW_SCALE_FILE)
    assert scale.high.air == 60000 and scale.high.dark == 200 and scale.low.dark == 0
    example = next(b for b in blocks if b.get("format") == CALIBRATION_FORMAT)
    table = read_calibration(json.dumps(example).encode(), "docs/formats.md")
    import numpy as np

    # a pixel through one step of each wedge reads back that wedge's Z
    for wedge in example["wedges"]:
        z, _ = effective_z(np.array([[wedge["high"][1]]]), np.array([[wedge["low"][1]]]), calibration=table)
        assert z[0, 0] == pytest.approx(wedge["z"], abs=0.5), wedge["material"]
