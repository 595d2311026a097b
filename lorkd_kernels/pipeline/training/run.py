"""The LoRKD pipeline and its baselines, stage by stage:

1. teacher: train the multi-task foundation model (or load one);
2. student(s) by method — lorkd: one student with an expert per task, distilled from the
   teacher; mtl / mtl-kd: one shared student; stl / stl-kd: one student per task;
3. decompose into one plain expert per task, saved under ``DIR/experts``;
4. evaluate experts and teacher on every task's test split → ``DIR/metrics.json``;
5. count the models' parameters and FLOPs → ``DIR/costs.json`` and ``costs.md``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple, cast

from torch import nn
from torch.utils.data import Subset

from ... import __version__
from ...conversion import convert, decompose
from ..data import MultiTaskDataset
from ..models import ImageClassifier, build_model, multitask_teacher
from . import artifacts, distributed, reporting, rng, run_folder
from .config import TrainConfig, check_fits_one_batch
from .splits import load_split
from .distributed import Distributed
from ..evaluation import evaluate_run
from ..label_kinds import multilabel_flags, multilabel_tasks
from .. import model_costs
from .loop import LoopSettings, Stage, train_stage
from .objectives import FeaturesAndLogits, Objective, Teacher
from .signals import StopRequest, stop_on_signals


class Pipeline:
    def __init__(self, config: TrainConfig, context: Distributed, stop: StopRequest) -> None:
        self.config, self.context, self.stop = config, context, stop
        self.run_dir = Path(config.out)
        self.settings = LoopSettings(
            batch_size=config.batch_size,
            grad_accum=config.grad_accum,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            balanced=config.balanced,
            seed=config.seed,
            amp=config.amp,
            workers=config.workers,
            progress=config.progress,
            resume=config.resume,
            augment=config.augment,
            lr_schedule=config.lr_schedule,
            warmup_fraction=config.warmup_fraction,
        )
        self.log = reporting.EpochLog(self.run_dir) if context.is_main else (lambda row: None)

    # ------------------------------------------------------------------ stages
    def _train(
        self,
        name: str,
        model: ImageClassifier,
        objective: Objective,
        train_set,
        epochs: int,
        lr: float,
    ) -> None:
        stage = Stage(name, FeaturesAndLogits(model), objective, train_set, epochs, lr)
        train_stage(stage, self.settings, self.context, self.run_dir, self.log, self.stop)

    def initial_teacher(
        self, train_set: MultiTaskDataset, saved: Optional[dict] = None
    ) -> Tuple[ImageClassifier, bool]:
        """The teacher before any training, and whether it was loaded ready-trained. Runs
        before the run folder is touched: a teacher checkpoint that cannot be read or does not
        fit stops the run with the folder as it was. ``saved``: the teacher file's contents, read
        and checked already (``artifacts.read_teacher_file``)."""
        config = self.config
        if config.teacher_ckpt is not None:
            return artifacts.load_teacher(
                Path(config.teacher_ckpt),
                train_set.num_classes,
                train_set.task_names,
                config.teacher_arch,
                state=saved,
            ), True
        rng.seed_for(config.seed, "teacher")
        return multitask_teacher(
            train_set.num_classes, arch=config.teacher_arch, checkpoint=config.teacher_backbone
        ), False

    def train_teacher(self, train_set: MultiTaskDataset, model: ImageClassifier) -> ImageClassifier:
        """Train the initial teacher (unless loaded ready-trained) and save it."""
        config = self.config
        if config.teacher_epochs > 0:
            self._train(
                "teacher",
                model,
                Objective(train_set.num_classes, multilabel=multilabel_flags(train_set)),
                train_set,
                config.teacher_epochs,
                config.teacher_lr,
            )
        if self.context.is_main:
            artifacts.save_teacher(
                self.run_dir / "teacher.pt",
                config.teacher_arch,
                train_set.num_classes,
                model,
                train_set.task_names,
            )
        return model

    def _objective(
        self,
        num_classes: List[int],
        multilabel: List[bool],
        task_map,
        teacher: Optional[Teacher],
        student: ImageClassifier,
    ) -> Objective:
        config = self.config
        if teacher is None:
            return Objective(num_classes, task_map, multilabel=multilabel)
        wrapped = cast(FeaturesAndLogits, teacher.model)  # as students() builds it
        return Objective(
            num_classes,
            task_map,
            teacher,
            beta=config.beta,
            temperature=config.temperature,
            kd_on=config.kd_on,
            student_features=student.num_features,
            teacher_features=wrapped.model.num_features,
            seed=config.seed,
            multilabel=multilabel,
        )

    def students(self, train_set: MultiTaskDataset, teacher: ImageClassifier) -> List[nn.Module]:
        """Train the method's student(s); return one plain expert per task."""
        config = self.config
        kd = None
        multilabel = multilabel_flags(train_set)
        if config.uses_teacher_kd:
            frozen = artifacts.freeze(teacher).to(self.context.device)
            kd = Teacher(FeaturesAndLogits(frozen))
        if config.single_task:
            experts = []
            for task, name in enumerate(train_set.task_names):
                classes = [train_set.num_classes[task]]
                rng.seed_for(config.seed, f"student-{name}")
                model = build_model(config.student_arch, classes)
                task_map = [0] * train_set.num_tasks
                subset = Subset(train_set, list(train_set.task_indices(task)))
                objective = self._objective(classes, [multilabel[task]], task_map, kd, model)
                self._train(f"student-{name}", model, objective, subset, config.epochs, config.lr)
                experts.append(decompose(model, 0))
            return experts
        rng.seed_for(config.seed, "student")
        model = build_model(config.student_arch, train_set.num_classes)
        if config.method == "lorkd":
            # converted in place: the router's model is this classifier
            model = cast(
                ImageClassifier,
                convert(
                    model,
                    train_set.num_tasks,
                    config.rank,
                    config.alpha,
                    experts_on=config.experts_on,
                ).model,
            )
        self._train(
            "student",
            model,
            self._objective(train_set.num_classes, multilabel, None, kd, model),
            train_set,
            config.epochs,
            config.lr,
        )
        if self.context.is_main:
            artifacts.checkpoint.save(
                {"method": config.method, "state_dict": model.state_dict()},
                self.run_dir / "student.pt",
            )
        return [decompose(model, task) for task in range(train_set.num_tasks)]

    # ------------------------------------------------------------------ whole run
    def _prepare_run_dir(self) -> None:
        if self.context.is_main:
            run_folder.prepare(self.config, __version__)
        self.context.barrier()

    def _load_data(self):
        # Rank 0 first: it may generate the synthetic benchmark that the others then read.
        if self.context.is_main:
            train_set = load_split(self.config, "train")
        self.context.barrier()
        if not self.context.is_main:
            train_set = load_split(self.config, "train")
        return train_set, load_split(self.config, "test")

    def run(self) -> Optional[Dict]:
        start = time.perf_counter()
        if self.config.amp == "bf16" and self.context.device.type == "cpu" and self.context.is_main:
            warnings.warn(
                "--amp bf16 on CPU: torch's CPU bfloat16 convolutions return wrong "
                "values for some shapes (tests/backends/test_torch_faults.py); EKS "
                "layers run them in float32, plain convolutions do not",
                stacklevel=2,
            )
        # A given teacher file is checked before the data is read: generating the synthetic
        # benchmark writes into --out. Then the data (reading it writes nothing else), so a
        # data set that cannot fill one batch stops the run before config.json is written.
        saved_teacher = (
            None
            if self.config.teacher_ckpt is None
            else artifacts.read_teacher_file(
                Path(self.config.teacher_ckpt), self.config.tasks, self.config.teacher_arch
            )
        )
        train_set, test_set = self._load_data()
        check_fits_one_batch([len(d) for d in train_set.datasets], self.config)
        teacher, trained = self.initial_teacher(train_set, saved_teacher)
        self._prepare_run_dir()
        if not trained:
            teacher = self.train_teacher(train_set, teacher)
        experts = self.students(train_set, teacher)
        summary = None
        if self.context.is_main:
            for name, expert in zip(train_set.task_names, experts):
                artifacts.save_expert(self.run_dir, name, self.config.student_arch, expert)
            results = evaluate_run(
                experts, teacher, test_set, self.config.eval_batch_size, self.context.device
            )
            summary = reporting.write_metrics(
                self.run_dir,
                self.config.method,
                results,
                time.perf_counter() - start,
                multilabel_tasks(test_set),
            )
            print(reporting.format_table(summary), flush=True)
            costs = model_costs.count_costs(model_costs.run_setting(self.config, train_set))
            print(model_costs.write_costs(self.run_dir, costs), flush=True)
        self.context.barrier()
        return summary


def run(config: TrainConfig) -> Optional[Dict]:
    """Run the whole pipeline (under ``torchrun`` too); returns the metrics on rank 0."""
    context = distributed.setup(config.device)
    try:
        with stop_on_signals() as stop:
            return Pipeline(config, context, stop).run()
    finally:
        distributed.teardown(context)
