"""The LoRKD recipe built on the library: data, backbones, training, evaluation and the commands.

* ``data``: MedMNIST files, image folders and the built-in synthetic benchmark;
* ``models``: torchvision-compatible ResNets and ShuffleNetV2s, single- or multi-task, and
  loading of pretrained backbone weights;
* ``training``: the stage-by-stage recipe (teacher, LoRKD student and its baselines, experts),
  its configuration, loop, objectives and checkpoints;
* ``losses``, ``metrics``, ``evaluation``: what the recipe minimises and reports;
* ``cli``: ``python -m lorkd_kernels.train`` and ``python -m lorkd_kernels.evaluate``.

The library part of ``lorkd_kernels`` (ops, backends, layers, conversion) never imports from here.
"""
