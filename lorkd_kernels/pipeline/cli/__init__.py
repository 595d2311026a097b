"""The pipeline's commands: ``train`` and ``evaluate`` (run as ``python -m lorkd_kernels.train``
and ``python -m lorkd_kernels.evaluate``)."""
