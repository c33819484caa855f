"""The manifest corpus: valid examples, invalid ones and immutable-field patches.

Each file is one YAML document whose leading comment lines say what it is:

    # <what is wrong, in words>
    # expect: <substring the API server's error must contain>   (one or more)
    # patch: <JSON merge patch>                                  (immutable/ only)
    # cel-only      only a CEL rule (x-kubernetes-validations) catches it
    # server-only   outside the spec models (metadata), so only the API server sees it
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Manifest:
    path: Path
    body: dict[str, Any]
    description: str
    expects: tuple[str, ...]
    patch: dict[str, Any] | None
    cel_only: bool
    server_only: bool

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def kind(self) -> str:
        return str(self.body["kind"])


def parse(path: Path) -> Manifest:
    text = path.read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line[1:].strip())
    expects = tuple(h.split(":", 1)[1].strip() for h in header if h.startswith("expect:"))
    patches = [json.loads(h.split(":", 1)[1]) for h in header if h.startswith("patch:")]
    return Manifest(
        path=path,
        body=yaml.safe_load(text),
        description=header[0] if header else "",
        expects=expects,
        patch=patches[0] if patches else None,
        cel_only="cel-only" in header,
        server_only="server-only" in header,
    )


def load(group: str) -> list[Manifest]:
    """All manifests of one group: "valid", "invalid" or "immutable", sorted by file name."""
    return [parse(path) for path in sorted((HERE / group).glob("*.yaml"))]
