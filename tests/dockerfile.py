"""Read the repo's Dockerfile into stages, so tests run its own instructions instead of copies."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    run: list[str] = field(default_factory=list)
    copy: list[list[str]] = field(default_factory=list)
    workdir: str = "/"
    user: str | None = None
    cmd: list[str] | None = None
    healthcheck: list[str] | None = None
    expose: list[int] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        logical.append((keyword.upper(), args.strip()))
        current = ""
    return logical


def _env_pairs(args: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(args))


def parse(path: Path = DOCKERFILE) -> list[Stage]:
    stages: list[Stage] = []
    for keyword, args in _instructions(path.read_text()):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, args
            stages.append(Stage(base=match[1], name=match[2]))
            continue
        stage = stages[-1]
        if keyword == "ENV":
            stage.env.update(_env_pairs(args))
        elif keyword == "RUN":
            stage.run.append(args)
        elif keyword == "COPY":
            stage.copy.append(shlex.split(args))
        elif keyword == "WORKDIR":
            stage.workdir = args
        elif keyword == "USER":
            stage.user = args
        elif keyword == "EXPOSE":
            stage.expose += [int(p.split("/")[0]) for p in args.split()]
        elif keyword == "CMD":
            stage.cmd = json.loads(args)
        elif keyword == "HEALTHCHECK":
            stage.healthcheck = json.loads(args[args.index("CMD") + 3 :].strip())
    return stages
