"""Part IV: compact models — distillation, label regularization, weight averaging and low-rank adapters.

``__all__`` lists what a reader calls: the models and layers, the losses, the trainers, the teachers and
tasks (data sets), and the measures of the adapters. The answer checks (``scratchbook.compact.checks``) and
the drivers of the stored experiments (``experiments``, ``compare_regularizers``, ``capacity_gap_trial``)
stay in their modules.
"""

from scratchbook.compact.backward_kd import (
    BackwardKDLoss,
    auxiliary_samples,
    distill_few_points,
    divergence,
    wiggly_teacher,
)
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
    denoising_pretrained_mlp,
    distill,
    kd_loss,
    kd_teacher,
    label_smoothing_loss,
    label_smoothing_targets,
    pretrain_masked_pixels,
    soft_targets,
    virtual_teacher,
)
from scratchbook.compact.glitter import (
    AugmentedKD,
    augment_pool,
    digits_glitter_task,
    distill_with_pool,
    glitter_select,
)
from scratchbook.compact.lora import (
    DyLoRALinear,
    LoRALinear,
    NestedDropoutLinear,
    add_lora,
    fine_tune_adapters,
    nested_dropout_p,
    principal_angles,
    random_rank_loss,
    set_rank,
    set_train_rank,
    subspace_overlap,
    svd_reorder,
)
from scratchbook.compact.swa import fine_tune, loss_along, random_direction, running_average, swa_callback
from scratchbook.compact.tasks import digits_class_transfer, digits_few_labels, digits_transfer, rotate_digits
from scratchbook.compact.training import accuracy, fit, make_mlp, predict, train_classifier

__all__: list[str] = [
    "glitter_select",
    "augment_pool",
    "AugmentedKD",
    "distill_with_pool",
    "digits_glitter_task",
    "LoRALinear",
    "DyLoRALinear",
    "add_lora",
    "set_rank",
    "set_train_rank",
    "random_rank_loss",
    "NestedDropoutLinear",
    "nested_dropout_p",
    "svd_reorder",
    "fine_tune_adapters",
    "principal_angles",
    "subspace_overlap",
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
    "wiggly_teacher",
    "distill_few_points",
    "soft_targets",
    "kd_loss",
    "label_smoothing_targets",
    "label_smoothing_loss",
    "virtual_teacher",
    "kd_teacher",
    "distill",
    "pretrain_masked_pixels",
    "denoising_pretrained_mlp",
    "running_average",
    "swa_callback",
    "fine_tune",
    "random_direction",
    "loss_along",
]
