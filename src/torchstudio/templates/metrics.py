import torch

from torchstudio.modules import Metric


class MyMetric(Metric):
    """Mean absolute error over every batch since the last reset."""

    def __init__(self):
        self.reset()

    def update(self, preds, target):
        self.total += float(torch.abs(preds - target).sum())
        self.count += target.numel()

    def compute(self):
        return self.total / max(self.count, 1)

    def reset(self):
        self.total = 0.0
        self.count = 0


metric = MyMetric()
