"""The method comparison: LoRKD against the paper's baselines and its own ablations, over seeds,
with each method's learning rate chosen on the validation split
(``python -m lorkd_kernels.compare``).

``grid`` says which runs make up the comparison, ``runner`` trains them and records every
per-seed, per-task number in one JSON file, ``stats`` summarises and pairs them, and ``report``
turns that JSON (and nothing else) into the markdown table and the plot.
"""
