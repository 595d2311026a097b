"""Quick start: train a tiny two-layer EKS network on a mixed-task batch, then merge one expert.

Uses only the public API. Run: python python/quickstart.py
"""

import time

import torch
from torch import nn

import lorkd_kernels
from lorkd_kernels import EKSConv2d, EKSLinear


class TinyStudent(nn.Module):
    """Conv -> depthwise conv -> pooled linear head, every layer carrying per-task experts."""

    def __init__(self, num_tasks: int, num_classes: int = 4):
        super().__init__()
        self.conv = EKSConv2d(3, 16, 3, padding=1, num_tasks=num_tasks, rank=4, alpha=16)
        self.dw = EKSConv2d(
            16, 16, 3, stride=2, padding=1, groups=16, num_tasks=num_tasks, rank=4, alpha=16
        )
        self.head = EKSLinear(16, num_classes, num_tasks=num_tasks, rank=4, alpha=16)

    def forward(self, x, task_ids):
        h = torch.relu(self.conv(x, task_ids))
        h = torch.relu(self.dw(h, task_ids))
        return self.head(h.mean((2, 3)), task_ids)


def main() -> None:
    torch.manual_seed(0)
    num_tasks = 3
    model = TinyStudent(num_tasks)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # Each task labels the same kind of image by a different cue: a shared model alone conflicts.
    x = torch.randn(96, 3, 16, 16)
    task_ids = torch.arange(96) % num_tasks
    cues = torch.stack([x[:, 0].mean((1, 2)), x[:, 1].std((1, 2)), x[:, 2, :8].mean((1, 2))], 1)
    labels = (cues[torch.arange(96), task_ids] > cues[torch.arange(96), task_ids].median()).long()
    start = time.perf_counter()
    for step in range(60):
        loss = nn.functional.cross_entropy(model(x, task_ids), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0 or step == 59:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    print(
        f"trained 60 steps in {time.perf_counter() - start:.2f} s "
        f"(backend: {lorkd_kernels.active_backend('cpu')})"
    )

    # Deploy task 1's expert as plain layers: same outputs, no lorkd code inside.
    task = 1
    plain = [model.conv.to_conv(task), model.dw.to_conv(task), model.head.to_linear(task)]
    sample = x[task_ids == task]
    with torch.no_grad():
        h = torch.relu(plain[1](torch.relu(plain[0](sample))))
        merged_out = plain[2](h.mean((2, 3)))
        eks_out = model(sample, task)
    print(
        f"merged expert {task} max |difference| vs EKS model: "
        f"{(merged_out - eks_out).abs().max().item():.2e}"
    )


if __name__ == "__main__":
    main()
