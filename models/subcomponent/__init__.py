"""Joint sub-component anomaly model: SSN superpixels classified by a CNN backbone."""

from models.subcomponent.model import JointLoss, SubcomponentModel, SubcomponentOutput

__all__ = ["JointLoss", "SubcomponentModel", "SubcomponentOutput"]
