"""The cost table: its counts (backbones on the meta device, heads on CPU) equal a count of the
real models run on CPU, its parameters the real models', and the stages and GPU estimate add up."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.conversion import convert, decompose
from lorkd_kernels.pipeline.model_costs import (
    CostSetting,
    count_costs,
    counted_flops,
    epoch_estimate,
    format_costs,
    parameter_count,
)
from lorkd_kernels.pipeline.models import build_model

TASKS, CLASSES, SIZE = ["a", "b", "c"], [2, 5, 3], 16


def _setting(method: str = "lorkd", **changes) -> CostSetting:
    values = dict(
        method=method,
        student_arch="shufflenet_v2_x0_5",
        teacher_arch="resnet18",
        tasks=TASKS,
        num_classes=CLASSES,
        image_size=SIZE,
        rank=2,
        alpha=4.0,
        experts_on="all",
    )
    return CostSetting(**{**values, **changes})


def _cpu_forward(model, images, task_ids) -> int:
    """Forward FLOPs of the whole model run on CPU, per sample."""
    model.eval()
    with torch.no_grad():
        return counted_flops(lambda: model(images, task_ids)) // len(images)


def _cpu_counts(model, images, task_ids):
    """Forward and forward+backward FLOPs of the whole model run on CPU, per sample."""
    model.train()
    training = counted_flops(lambda: model(images, task_ids).sum().backward())
    return _cpu_forward(model, images, task_ids), training // len(images)


@pytest.fixture(scope="module")
def lorkd_costs():
    return count_costs(_setting())


def test_rows_match_the_real_models_counted_on_cpu(lorkd_costs):
    rows = {row["model"]: row for row in lorkd_costs["rows"]}
    images, ids = torch.randn(len(TASKS), 3, SIZE, SIZE), torch.arange(len(TASKS))
    teacher = build_model("resnet18", CLASSES)
    student = convert(build_model("shufflenet_v2_x0_5", CLASSES), len(TASKS), 2, 4.0).model
    assert (rows["teacher"]["forward_flops"], rows["teacher"]["training_flops"]) == _cpu_counts(
        teacher, images, ids
    )
    assert (
        rows["student (training)"]["forward_flops"],
        rows["student (training)"]["training_flops"],
    ) == _cpu_counts(student, images, ids)
    assert rows["teacher"]["parameters"] == parameter_count(teacher)
    assert rows["student (training)"]["parameters"] == parameter_count(student)
    for task, name in enumerate(TASKS):
        expert = decompose(student, task)  # what a run deploys
        row = rows[f"expert {name}"]
        assert row["parameters"] == parameter_count(expert)
        assert row["forward_flops"] == _cpu_forward(expert, images[:1], None)
        assert "training_flops" not in row


def test_experts_add_parameters_and_flops_to_the_student(lorkd_costs):
    rows = {row["model"]: row for row in lorkd_costs["rows"]}
    plain = count_costs(_setting("mtl"))["rows"][1]
    student = rows["student (training)"]
    assert student["parameters"] > plain["parameters"]
    assert student["forward_flops"] > plain["forward_flops"]


def test_stage_flops_add_the_teachers_forward_when_distilling(lorkd_costs):
    teacher, student = lorkd_costs["rows"][:2]
    assert lorkd_costs["stage_flops_per_sample"] == {
        "teacher": teacher["training_flops"],
        "student": student["training_flops"] + teacher["forward_flops"],
    }
    mtl = count_costs(_setting("mtl"))
    assert mtl["stage_flops_per_sample"]["student"] == mtl["rows"][1]["training_flops"]


def test_single_task_students_are_one_per_task():
    costs = count_costs(_setting("stl"))
    students = [build_model("shufflenet_v2_x0_5", [k]) for k in CLASSES]
    assert costs["rows"][1]["parameters"] == sum(parameter_count(s) for s in students)
    assert costs["setting"]["tasks"] == TASKS and costs["setting"]["image_size"] == SIZE


def test_epoch_estimate_and_table(lorkd_costs):
    estimate = epoch_estimate(lorkd_costs, samples=1000, peak_tflops=100.0, utilisation=0.5)
    student = lorkd_costs["stage_flops_per_sample"]["student"]
    assert estimate["stages"]["student"]["flops_per_epoch"] == 1000 * student
    assert estimate["stages"]["student"]["seconds_per_epoch"] == pytest.approx(
        1000 * student / 50e12
    )
    table = format_costs(lorkd_costs, estimate)
    assert "| expert b |" in table and "FLOPs = 2 × multiply-adds" in table
    assert "ESTIMATE: achieved throughput = 0.5 × 100 TFLOP/s" in table
    assert "ESTIMATE" not in format_costs(lorkd_costs)
