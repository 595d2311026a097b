"""RadImageNet's 165 classes as LoRKD's 11 tasks: consecutive ranges of the global labels.

The class counts and their order are those of the released LoRKD code, which maps global labels
0-5 to task 0, 6-33 to task 1, and so on. That code names the tasks only by index, and the
global-label order of RadImageNet's list files is not documented, so which modality and body
region each range covers cannot be stated with certainty: the tasks carry neutral names
(``rad_task01`` ... ``rad_task11``). Within a task, a sample's label is its global label minus
the task's first global label.
"""

from __future__ import annotations

# Task name -> number of classes, in global-label order.
RADIMAGENET_TASKS: dict[str, int] = {
    "rad_task01": 6,
    "rad_task02": 28,
    "rad_task03": 2,
    "rad_task04": 13,
    "rad_task05": 18,
    "rad_task06": 14,
    "rad_task07": 9,
    "rad_task08": 25,
    "rad_task09": 26,
    "rad_task10": 10,
    "rad_task11": 14,
}

RADIMAGENET_CLASSES = 165


def task_ranges() -> dict[str, range]:
    """Each task's global labels, e.g. ``rad_task02`` -> ``range(6, 34)``."""
    ranges, start = {}, 0
    for name, count in RADIMAGENET_TASKS.items():
        ranges[name] = range(start, start + count)
        start += count
    return ranges
