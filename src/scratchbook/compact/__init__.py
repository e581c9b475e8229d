"""Part IV: compact models — distillation, label regularization, weight averaging and low-rank adapters."""

from scratchbook.compact.lora import DyLoRALinear, LoRALinear, add_lora, set_train_rank
from scratchbook.compact.tasks import digits_transfer, rotate_digits
from scratchbook.compact.training import accuracy, fit, make_mlp, predict, train_classifier

__all__: list[str] = [
    "LoRALinear",
    "DyLoRALinear",
    "add_lora",
    "set_train_rank",
    "make_mlp",
    "fit",
    "train_classifier",
    "predict",
    "accuracy",
    "rotate_digits",
    "digits_transfer",
]
