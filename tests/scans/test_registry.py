"""The generic registry: order kept, duplicates refused, unknown names list the valid ones."""

from __future__ import annotations

import pytest

from scans.registry import Registry


def test_registry_behaves_like_a_read_only_mapping():
    colours: Registry[int] = Registry("colour")
    colours.add("red", 1)

    @colours.register("blue")
    def blue() -> int:
        return 2

    assert list(colours) == ["red", "blue"] and len(colours) == 2
    assert colours["blue"]() == 2 and "red" in colours and "green" not in colours
    with pytest.raises(ValueError, match="colour 'red' is already registered"):
        colours.add("red", 3)
    with pytest.raises(KeyError, match="unknown colour 'green'; valid: blue, red"):
        colours["green"]
