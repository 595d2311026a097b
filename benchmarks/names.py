"""Provider names that the suites and the report both rely on.

Kept apart from :mod:`benchmarks.common` so the report, which only reads JSON, can use them
without importing torch.
"""

#: the plain layer or model every ratio is taken against
BASELINE = "plain"
#: the other implementations of an EKS layer that lorkd is compared with (not lorkd backends)
COMPETITORS = ("paper", "per_task_loop")

#: the cpu backend with its conv algorithm chosen by timing on this machine
#: (lorkd_kernels.backends.measuring): timed next to "cpu", which uses the cost model
MEASURED = "cpu_measured"

#: the model-level training step with measured conv choices already in the table, and the same
#: step starting every round from an empty table (every conv shape measured: the first-call cost)
MEASURED_TRAIN = "eks_measured"
MEASURING_TRAIN = "eks_measuring"

#: the model-level training step captured once in a CUDA graph and replayed (GPU only): the
#: step without host work, next to the same step run eagerly ("plain", "eks")
GRAPHED_TRAIN = {"plain_graph": "plain", "eks_graph": "eks"}

#: the triton backend's conv forms side by side (GPU only): "triton" is forced to the fused
#: kernels, TRITON_SPLIT to the split form (cuDNN base + Triton branch), TRITON_MEASURED is the
#: default strategy auto with measuring on (each conv shape runs the faster form)
TRITON_SPLIT = "triton_split"
TRITON_MEASURED = "triton_measured"

#: the provider that times what a backend serves by default, where that is not the provider named
#: after the backend: triton's default strategy auto runs dense convs in the split form unless
#: measuring is on ("triton" is forced to the fused kernels); its grouped convs, which auto runs
#: fused (backends/triton/costs.py), are judged on the split provider too
SERVED_BY_DEFAULT = {"triton": TRITON_SPLIT}
