"""Fine-tune a base model with LoRA on the exported requests: TRL's SFTTrainer with a PEFT LoRA
adapter, settings in config.json beside this file. Written by llm-breakeven: this module is copied
verbatim into every GPU recipe as train.py (analysis.replay.tuning.gpu_recipe), so it imports only
the standard library at the top and the training libraries inside `train`.

    python train.py --dry-run   check the data and print its counts (standard library only)
    python train.py             train (needs requirements.txt and a GPU); the adapter goes to ./adapter
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROLES = {"system", "developer", "user", "assistant", "tool"}


class DataError(Exception):
    """A training file that is not OpenAI chat format: one {"messages": [...]} object per line."""


def read_config(path: Path) -> dict:
    """config.json: base model, data files, LoRA and trainer settings."""
    return json.loads(path.read_text(encoding="utf-8"))


def _content_chars(content: object) -> int:
    """Characters of a message's content: a string, a list of text parts, or None (tool calls)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return sum(len(part.get("text") or "") for part in content)
    raise ValueError("content is neither text, a list of parts nor null")


def load_examples(path: Path) -> list[dict]:
    """Every line of `path` as a chat example; DataError naming the file and line otherwise. An
    example has a list of messages, each with a known role, and at least one assistant answer."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    examples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}, line {number}"
            try:
                example = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{where}: not JSON ({error.msg})") from None
            messages = example.get("messages") if isinstance(example, dict) else None
            if not isinstance(messages, list) or not messages:
                raise DataError(f"{where}: expected an object with a non-empty 'messages' list")
            for index, message in enumerate(messages):
                role = message.get("role") if isinstance(message, dict) else None
                if role not in ROLES:
                    raise DataError(f"{where}: message {index} has role {role!r}; expected one of {sorted(ROLES)}")
                try:
                    _content_chars(message.get("content"))
                except ValueError as error:
                    raise DataError(f"{where}: message {index}: {error}") from None
            if not any(m["role"] == "assistant" for m in messages):
                raise DataError(f"{where}: no assistant message to learn from")
            examples.append(example)
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def summarise(examples: list[dict], chars_per_token: float) -> dict:
    """Counts the trainer will see: examples, messages, assistant answers, characters, and tokens
    estimated as characters / chars_per_token (the tokenizer's exact count needs the model)."""
    messages = [m for e in examples for m in e["messages"]]
    characters = sum(_content_chars(m.get("content")) for m in messages)
    return {"examples": len(examples), "messages": len(messages),
            "assistant_messages": sum(m["role"] == "assistant" for m in messages),
            "characters": characters, "estimated_tokens": round(characters / chars_per_token)}


def train(config: dict, train_file: Path) -> Path:
    """LoRA fine-tuning with TRL's SFTTrainer (the chat template of the base model is applied to
    the messages); saves the adapter (adapter_model.safetensors + adapter_config.json)."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    lora, trainer_settings = config["lora"], config["trainer"]
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    arguments = SFTConfig(
        output_dir=str(HERE / "checkpoints"),
        num_train_epochs=trainer_settings["epochs"],
        per_device_train_batch_size=trainer_settings["batch_size"],
        gradient_accumulation_steps=trainer_settings["gradient_accumulation_steps"],
        learning_rate=trainer_settings["learning_rate"],
        max_length=trainer_settings["max_length"],
        packing=False,
        gradient_checkpointing=True,
        bf16=bf16,
        fp16=torch.cuda.is_available() and not bf16,
        logging_steps=10,
        save_strategy="epoch",
        report_to="none",
    )
    peft_config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules=lora["target_modules"], task_type="CAUSAL_LM")
    dataset = load_dataset("json", data_files=str(train_file), split="train")
    trainer = SFTTrainer(model=config["base_model"], args=arguments, train_dataset=dataset, peft_config=peft_config)
    trainer.train()
    adapter = HERE / config["adapter_dir"]
    trainer.save_model(str(adapter))
    return adapter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="check the data and print its counts; no training")
    parser.add_argument("--config", type=Path, default=HERE / "config.json")
    args = parser.parse_args(argv)
    config = read_config(args.config)
    train_file = HERE / config["train_file"]
    try:
        examples = load_examples(train_file)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {"base_model": config["base_model"], "train_file": config["train_file"],
               **summarise(examples, config["chars_per_token"])}
    print(json.dumps(summary))
    if args.dry_run:
        return 0
    print(f"adapter saved to {train(config, train_file)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
