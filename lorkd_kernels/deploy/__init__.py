"""Deployment of decomposed experts: export to TorchScript, ONNX and safetensors
(``export.py``), checked safetensors weight files (``weights_file.py``), and the bridge to peft
LoRA adapters, out (``peft_export.py``) and in (``peft_import.py``), through the shared module
layout (``_peft_layout.py``). The public names are importable from ``lorkd_kernels``."""
