"""Superpixel Sampling Network (Jampani et al., 2018) in pure PyTorch."""

from models.ssn.model import SSN, SSNLoss, connected_labels

__all__ = ["SSN", "SSNLoss", "connected_labels"]
