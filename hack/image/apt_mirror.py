#!/usr/bin/env python3
"""Print the Debian mirror URI this machine's apt uses for a suite (default: bookworm).

Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources (one-line and
deb822 formats) so the image build uses the mirror apt is configured with here, never a
host name written into the project. Exit status 1 when no enabled `deb` entry carries the
suite with the `main` component.
"""

from __future__ import annotations

import sys
from pathlib import Path

APT = Path("/etc/apt")


def one_line_entries(text: str) -> list[tuple[str, list[str], list[str]]]:
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 3:
            entries.append((words[0], [words[1]], words[2:]))
    return entries


def deb822_entries(text: str) -> list[tuple[str, list[str], list[str]]]:
    entries = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw or raw[:1].isspace():
                continue
            key, value = raw.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            entries.append(
                (uri, fields.get("suites", "").split(), fields.get("components", "").split())
            )
    return entries


def main(suite: str) -> int:
    files = [APT / "sources.list", *sorted((APT / "sources.list.d").glob("*.list"))]
    entries = []
    for path in files:
        if path.is_file():
            entries += one_line_entries(path.read_text())
    for path in sorted((APT / "sources.list.d").glob("*.sources")):
        entries += deb822_entries(path.read_text())
    for uri, suites, components in entries:
        if suite in suites and "main" in components:
            print(uri.rstrip("/"))
            return 0
    print(f"no enabled apt source for suite {suite!r} with component main", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bookworm"))
