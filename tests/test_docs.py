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


# sample values for the synopses' placeholders that a parser types (the others are free text)
PLACEHOLDERS = {"N": "4", "S": "0", "F": "0.5", "T": "0.5", "V": "100", "P": "1.0", "W": "2",
                "NAME=AMOUNT": "accelerator=1"}


def _synopsis_items(words: list[str]) -> list[list[list[str]]]:
    """A synopsis as a sequence of choices, each a list of alternatives (word lists): a plain word is
    one alternative; ``a|b`` is one per word; ``[x y | z]`` is its alternatives or nothing; ``...``
    (more of the same) is dropped."""
    items, group = [], None
    for word in words:
        opens, word = word.startswith("["), word.removeprefix("[")
        closes, word = word.endswith("]"), word.removesuffix("]")
        if opens:
            group = [[]]
        if word == "|" and group is not None:
            group.append([])
        elif word and word != "...":
            alternatives = [[w] for w in word.split("|")] if "|" in word else [[word]]
            if group is None:
                items.append(alternatives)
            else:  # a|b inside a group: its first alternative stands for the rest
                group[-1].append(alternatives[0][0])
        if closes and group is not None:
            if any(group):  # `[...]` alone stands for nothing
                items.append([[], *[g for g in group if g]])
            group = None
    return items


def command_lines(page: Path) -> list[tuple[str, list[list[str]]]]:
    """Every ``dualscan ...`` line of ``page``'s code blocks (continuations joined, comments cut),
    with argument lists its synopsis stands for: every optional group in, all of them out, and each
    alternative once (the others in)."""
    import shlex

    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", page.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(line.split()).removeprefix("$ ")
            if not line.startswith("dualscan "):
                continue
            items = _synopsis_items(shlex.split(line, comments=True)[1:])
            every_in = [next(a for a in alternatives if a) for alternatives in items]
            choices = [every_in, [alternatives[0] for alternatives in items]]
            choices += [[*every_in[:i], a, *every_in[i + 1:]] for i, alts in enumerate(items) for a in alts]
            argvs = {tuple(PLACEHOLDERS.get(w, w) for words in choice for w in words) for choice in choices}
            found.append((line, [list(a) for a in sorted(argvs)]))
    return found


DOCUMENTED_LINES = [(page, line, argvs) for page in PAGES for line, argvs in command_lines(page)]


def test_the_pages_hold_command_lines_of_every_kind():
    lines = [line for _, line, _ in DOCUMENTED_LINES]
    assert len(lines) > 30 and any("import dual-energy" in line for line in lines)
    assert any(line.startswith("dualscan cluster") for line in lines)


@pytest.mark.parametrize(("page", "line", "argvs"), DOCUMENTED_LINES,
                         ids=[f"{p.relative_to(ROOT)}:{line[:50]}" for p, line, _ in DOCUMENTED_LINES])
def test_every_documented_command_line_parses_with_its_commands_parser(page, line, argvs, monkeypatch,
                                                                       capsys):
    """Each line, every optional part in and out, parses with the command's real parser (nothing is
    run); an option must be spelt in full (argparse would take an abbreviation)."""
    import argparse

    from jobs.cli import build_parser

    full_names = argparse.ArgumentParser.__init__

    def spelt_in_full(self, *args, **kwargs):
        full_names(self, *args, **{**kwargs, "allow_abbrev": False})

    monkeypatch.setattr(argparse.ArgumentParser, "__init__", spelt_in_full)
    for argv in argvs:
        try:
            build_parser(argv[0]).parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: `{line}` as {argv}: {capsys.readouterr().err.strip()}")
