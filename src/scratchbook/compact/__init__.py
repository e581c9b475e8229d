"""Part IV: compact models — low-rank adapters (LoRA) and adapters that work at every rank (DyLoRA)."""

from scratchbook.compact.lora import DyLoRALinear, LoRALinear, add_lora, set_train_rank
from scratchbook.compact.training import accuracy, make_mlp, train_classifier

__all__: list[str] = [
    "LoRALinear",
    "DyLoRALinear",
    "add_lora",
    "set_train_rank",
    "make_mlp",
    "train_classifier",
    "accuracy",
]
