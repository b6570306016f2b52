"""What a trained model is: its pipeline, backbone and modality, and every setting its build reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """One configuration of the search space (a study's trial), plus the settings every trial shares;
    saved as a model directory's ``config.json`` ``trial``."""

    pipeline: str
    backbone: str
    modality: str
    k: int = 100
    lam: float = 1e-4
    ssn_feature: str = "pixel"
    mode: str = "pool"
    optimizer: str = "sgd"
    lr: float = 2e-4
    batch_size: int = 64
    epochs: int = 10
    image_size: int = 128
    crop_size: int = 64
    crops_per_image: int = 16
    anomaly_fraction: float = 0.5
    weights: str | None = None
    item_input: str = "masked"  # item-first pipelines: what the model sees of an item
    small_anomalies: bool = False  # the sub-component pipeline on items: small anomalies kept
    item_head: bool = False  # the sub-component pipeline on items: a learned item head
    test_views: int = 1  # the sub-component pipeline on items: dense features averaged over views
    overview: bool = False  # the sub-component pipeline on items: the whole item in view (FiLM)
    class_context: tuple[str, ...] = ()  # the sub-component pipeline on items: item classes as context

    def __post_init__(self) -> None:
        # config.json keeps the class names as a JSON list: the spec holds them as a tuple
        object.__setattr__(self, "class_context", tuple(self.class_context))
