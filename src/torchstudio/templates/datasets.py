import torch
from torch.utils.data import Dataset


class MyDataset(Dataset):
    """Random inputs and class labels."""

    def __init__(self, size: int = 100, num_classes: int = 10):
        self.inputs = torch.randn(size, 1, 8, 8)
        self.targets = torch.randint(0, num_classes, (size,))

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return self.inputs[index], self.targets[index]


train = MyDataset()
