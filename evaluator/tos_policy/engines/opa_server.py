"""Start and stop a local OPA server, for tests and benchmarks of the OPA engine.

    server = start_server(opa_binary())
    try:
        engine = OpaEngine(rules, server.url)
        ...
    finally:
        server.stop()

The server listens on 127.0.0.1 only, on a free port unless one is given, and is
stopped by its process id: SIGTERM, then SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tos_policy.errors import EngineError
from tos_policy.resources import REPO_ROOT

DEFAULT_BINARY = REPO_ROOT / ".tools" / "bin" / "opa"
HOST = "127.0.0.1"
START_ATTEMPTS = 3  # a free port can be taken between choosing it and OPA binding it


class OpaServerError(EngineError):
    """The OPA binary is missing, or the server did not start."""


def opa_binary() -> Path:
    """The OPA binary: $OPA_BINARY if set, else <repo>/.tools/bin/opa (built by scripts/build-opa)."""
    configured = os.environ.get("OPA_BINARY")
    path = Path(configured) if configured else DEFAULT_BINARY
    origin = "OPA_BINARY points at" if configured else "expected the OPA binary at"
    if not path.is_file():
        raise OpaServerError(
            f"no OPA binary: {origin} {path}, which does not exist; "
            f"run scripts/build-opa (or set OPA_BINARY to an OPA binary)"
        )
    if not os.access(path, os.X_OK):
        raise OpaServerError(f"the OPA binary {path} is not executable; run scripts/build-opa")
    return path


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OpaServer:
    """A running `opa run --server` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    host: str = HOST
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self, limit: int = 2000) -> str:
        """The end of the server's output (errors only: it runs with --log-level error)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:].strip()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server by its process id: terminate, then kill after `timeout` seconds."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=timeout)
        finally:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> OpaServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _launch(binary: Path, port: int, bundle: Path | None) -> OpaServer:
    command = [
        str(binary),
        "run",
        "--server",
        "--addr",
        f"{HOST}:{port}",
        "--log-level",
        "error",
        "--skip-version-check",
        "--shutdown-grace-period",
        "1",
    ]
    if bundle is not None:
        command += ["--bundle", str(bundle)]
    handle, log_name = tempfile.mkstemp(prefix="opa-server-", suffix=".log")
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
    except OSError as exc:
        os.close(handle)
        Path(log_name).unlink(missing_ok=True)
        raise OpaServerError(f"cannot run the OPA binary {binary}: {exc.strerror}") from None
    os.close(handle)
    return OpaServer(process=process, port=port, log_path=Path(log_name))


def _wait_healthy(server: OpaServer, ready_timeout: float) -> bool:
    """True once GET /health answers 200; False if the process exits first. Raises after `ready_timeout`.
    The probe uses the OPA engine's own strict session (no environment proxies, no redirects)."""
    import requests  # type: ignore[import-untyped, unused-ignore]

    from tos_policy.engines.opa import strict_session  # imported late: requests is the [opa] extra

    session = strict_session()
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            if not server.running():
                return False
            try:
                response = session.get(f"{server.url}/health", timeout=1.0, allow_redirects=False)
                if response.status_code == 200:
                    return True
            except requests.exceptions.RequestException:
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise OpaServerError(
                    f"the OPA server at {server.url} (pid {server.pid}) did not answer GET /health "
                    f"within {ready_timeout:g}s; its output: {server.log() or '<none>'}"
                )
            time.sleep(0.05)
    finally:
        session.close()


def start_server(
    opa_binary: Path,
    *,
    bundle: Path | None = None,
    port: int | None = None,
    ready_timeout: float = 20.0,
) -> OpaServer:
    """Run `opa run --server --addr 127.0.0.1:PORT [--bundle FILE]` and wait until GET /health answers."""
    binary = Path(opa_binary)
    if not binary.is_file():
        raise OpaServerError(f"no OPA binary at {binary}; run scripts/build-opa")
    if bundle is not None and not Path(bundle).exists():
        raise OpaServerError(f"no bundle at {bundle}")
    attempts = 1 if port is not None else START_ATTEMPTS
    output = ""
    for _ in range(attempts):
        server = _launch(binary, port if port is not None else free_port(), bundle)
        try:
            healthy = _wait_healthy(server, ready_timeout)
        except BaseException:
            server.stop()
            raise
        if healthy:
            return server
        output = server.log()
        server.stop()
        if "address already in use" not in output:
            break
    raise OpaServerError(f"the OPA server exited before it was ready; its output: {output or '<none>'}")
