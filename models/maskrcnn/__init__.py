"""Object-level baseline: Mask R-CNN item detection, then item-crop anomaly classification."""

from models.maskrcnn.model import ObjectModel, ObjectOutput, build_detector

__all__ = ["ObjectModel", "ObjectOutput", "build_detector"]
