"""TensorBoard scalars of a training run without Ray (`dualscan train --out`): a Tune trial's are Tune's."""

from __future__ import annotations


class ScalarLog:
    """TensorBoard scalars of a run without Ray (a Tune trial's are Tune's): the loss, the val
    figures and the learning rate at each evaluation, by step (by epoch for whole-scan pipelines)."""

    TAGS = ("train_loss", "val_object_auroc", "val_segment_auroc", "objective", "lr")

    def __init__(self, folder: str):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(folder)

    def write(self, metrics: dict) -> None:
        step = int(metrics.get("step", metrics["epoch"]))
        for tag in self.TAGS:
            value = metrics.get(tag)
            if isinstance(value, int | float):
                self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
