"""Part IV: compact models — distillation, label regularization, weight averaging and low-rank adapters."""

from scratchbook.compact.backward_kd import BackwardKDLoss, auxiliary_samples, divergence
from scratchbook.compact.continuation import (
    annealing_factor,
    continuation_kd_loss,
    distill_1d,
    make_ckd_loss,
    noisy_teacher,
    psi_schedule,
    temperature_schedule,
)
from scratchbook.compact.distillation import (
    distill,
    kd_loss,
    label_smoothing_loss,
    label_smoothing_targets,
    pretrain_masked_pixels,
    soft_targets,
    virtual_teacher,
)
from scratchbook.compact.glitter import AugmentedKD, augment_pool, digits_glitter_task, distil_with_pool, glitter_select
from scratchbook.compact.lora import (
    DyLoRALinear,
    LoRALinear,
    add_lora,
    fine_tune_adapters,
    random_rank_loss,
    set_rank,
    set_train_rank,
)
from scratchbook.compact.swa import fine_tune, loss_along, random_direction, running_average, swa_callback
from scratchbook.compact.tasks import digits_class_transfer, digits_few_labels, digits_transfer, rotate_digits
from scratchbook.compact.training import accuracy, fit, make_mlp, predict, train_classifier

__all__: list[str] = [
    "glitter_select",
    "augment_pool",
    "AugmentedKD",
    "distil_with_pool",
    "digits_glitter_task",
    "LoRALinear",
    "DyLoRALinear",
    "add_lora",
    "set_rank",
    "set_train_rank",
    "random_rank_loss",
    "fine_tune_adapters",
    "make_mlp",
    "fit",
    "train_classifier",
    "predict",
    "accuracy",
    "rotate_digits",
    "digits_transfer",
    "digits_class_transfer",
    "digits_few_labels",
    "annealing_factor",
    "temperature_schedule",
    "psi_schedule",
    "continuation_kd_loss",
    "make_ckd_loss",
    "noisy_teacher",
    "distill_1d",
    "divergence",
    "auxiliary_samples",
    "BackwardKDLoss",
    "soft_targets",
    "kd_loss",
    "label_smoothing_targets",
    "label_smoothing_loss",
    "virtual_teacher",
    "distill",
    "pretrain_masked_pixels",
    "running_average",
    "swa_callback",
    "fine_tune",
    "random_direction",
    "loss_along",
]
