"""The generic registry: order kept, duplicates refused, unknown names list the valid ones."""

from __future__ import annotations

import pytest

from scans.registry import Lazy, Registry


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


def test_a_lazy_entry_is_named_before_its_module_is_imported():
    registry = Registry("thing")
    registry.add("dumps", Lazy("json:dumps"))
    registry.add("missing", Lazy("json:no_such_attribute"))
    assert list(registry) == ["dumps", "missing"]
    assert "dumps" in registry and "nope" not in registry
    assert isinstance(registry.declared("dumps"), Lazy)  # neither listing nor `in` loaded it
    import json

    assert registry["dumps"] is json.dumps
    assert registry.declared("dumps") is json.dumps  # loaded once, then kept
    with pytest.raises(AttributeError):
        registry["missing"]
    with pytest.raises(KeyError, match="unknown thing 'nope'; valid: dumps, missing"):
        registry.declared("nope")
