"""Which spec fields a trial reads, given its pipeline and the choices made before: what a search
space may vary for it (torch-free: a config is checked with it before anything is built)."""

from __future__ import annotations

from models.catalog import DENSE_ENCODERS, PIPELINES, SSN_FEATURES
from models.spec import ModelSpec

# every knob a space varies, in the order a trial's choices are made: a later one may depend on
# earlier ones (λ on the SSN features, the mode on the backbone)
KNOBS = ("pipeline", "backbone", "modality", "optimizer", "lr", "batch_size",
         "ssn_feature", "k", "lam", "mode", "anomaly_fraction")
SUPERPIXEL_KNOBS = ("ssn_feature", "k", "lam", "mode", "anomaly_fraction")


def reads(point: dict, knob: str) -> bool:
    """Whether a trial of ``point`` (its pipeline, and for ``lam`` its SSN features, the spec's
    default when unchosen) reads ``knob``: pipelines without superpixels read no superpixel knob,
    and λ weighs a loss that trains only SSN features with parameters."""
    if knob not in SUPERPIXEL_KNOBS:
        return True
    if not PIPELINES.declared(point["pipeline"]).superpixels:
        return False
    if knob == "lam":
        return SSN_FEATURES.declared(point.get("ssn_feature", ModelSpec.ssn_feature)).learned
    return True


def modes_for(pipeline: str, backbone: str, modes: list[str]) -> list[str]:
    """The classification modes of ``modes`` that ``backbone`` can take in ``pipeline``: items'
    sub-components pool a U-Net's dense features, which only backbones with a dense encoder have."""
    if pipeline == "subcomponent" and backbone not in DENSE_ENCODERS:
        return [mode for mode in modes if mode != "pool"]
    return list(modes)


def default_optimizer(pipeline: str) -> str:
    """What ``pipeline`` trains with when the space names no optimizer."""
    return PIPELINES.declared(pipeline).default_optimizer
