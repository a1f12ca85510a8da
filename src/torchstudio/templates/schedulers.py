from torch.optim.lr_scheduler import LRScheduler


class MyScheduler(LRScheduler):
    """Decrease the learning rate linearly to zero. `optimizer` is the studio's optimizer."""

    def __init__(self, optimizer, epochs: int = 10):
        self.epochs = epochs
        super().__init__(optimizer)

    def get_lr(self):
        factor = max(0.0, 1.0 - self.last_epoch / self.epochs)
        return [base_lr * factor for base_lr in self.base_lrs]


scheduler = MyScheduler(optimizer)
