"""Starts `a48 serve` on a free loopback port for the evaluation and load-test scripts, and stops
it with SIGTERM (graceful shutdown), checking that it exits 0."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def default_binary() -> Path:
    for build in ("release", "serve"):
        path = REPO / "build" / build / "bin" / "a48"
        if path.exists():
            return path
    return REPO / "build" / "release" / "bin" / "a48"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class A48Server:
    """`with A48Server(binary, ["--device", "cpu"]) as server: server.url ...`"""

    def __init__(self, binary=None, args=(), log_path=None):
        self.binary = Path(binary) if binary else default_binary()
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = None
        self.exit_code = None

    def __enter__(self):
        command = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        self.command = command
        self.log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"a48 serve exited with {self.process.returncode}: {' '.join(command)}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("a48 serve did not become healthy in 120 s")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.exit_code = self.process.wait()
        elif self.process:
            self.exit_code = self.process.returncode
        if self.log_path:
            self.log.close()
        return False

    def metrics(self) -> dict:
        """Unlabelled metrics from /metrics as {name: value}."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split()
                values[name] = float(value)
        return values

    def post(self, path: str, body: dict, timeout=600) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())


def hf_tokenizer_dir(model_dir: Path, out_dir: Path) -> Path:
    """A directory that transformers.AutoTokenizer loads: the model's tokenizer.json plus a
    tokenizer_config.json naming the fast tokenizer class and a48's bos/eos token."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    special = [t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")]
    eos = "<|endoftext|>" if "<|endoftext|>" in special else (special[0] if special else None)
    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False,
              "model_max_length": 1 << 30}
    if eos:
        config.update(bos_token=eos, eos_token=eos)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config))
    return out_dir
