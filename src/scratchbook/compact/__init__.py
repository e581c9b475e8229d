"""Part IV: compact models — distillation, label regularization, weight averaging and low-rank adapters.

``__all__`` lists what a reader calls: the models and layers, the losses, the trainers, the teachers and
tasks (data sets), and the measures of the adapters. The answer checks (``scratchbook.compact.checks``) and
the drivers of the stored experiments (``experiments``, ``compare_regularizers``, ``capacity_gap_trial``)
stay in their modules. The list is declared once and sorted, and each name in it is one that its module
lists in its own ``__all__`` (``tests/test_public_api.py`` checks both).
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
    "AugmentedKD",
    "BackwardKDLoss",
    "DyLoRALinear",
    "LoRALinear",
    "NestedDropoutLinear",
    "accuracy",
    "add_lora",
    "annealing_factor",
    "augment_pool",
    "auxiliary_samples",
    "continuation_kd_loss",
    "denoising_pretrained_mlp",
    "digits_class_transfer",
    "digits_few_labels",
    "digits_glitter_task",
    "digits_transfer",
    "distill",
    "distill_1d",
    "distill_few_points",
    "distill_with_pool",
    "divergence",
    "fine_tune",
    "fine_tune_adapters",
    "fit",
    "glitter_select",
    "kd_loss",
    "kd_teacher",
    "label_smoothing_loss",
    "label_smoothing_targets",
    "loss_along",
    "make_ckd_loss",
    "make_mlp",
    "nested_dropout_p",
    "noisy_teacher",
    "predict",
    "pretrain_masked_pixels",
    "principal_angles",
    "psi_schedule",
    "random_direction",
    "random_rank_loss",
    "rotate_digits",
    "running_average",
    "set_rank",
    "set_train_rank",
    "soft_targets",
    "subspace_overlap",
    "svd_reorder",
    "swa_callback",
    "temperature_schedule",
    "train_classifier",
    "virtual_teacher",
    "wiggly_teacher",
]
