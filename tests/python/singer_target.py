#!/usr/bin/env python3
"""Pipe a Singer tap's output into the real `target-jsonl` and count what it wrote.

Run with the interpreter of the pinned virtualenv (see README.md):

  singer_target.py [--destination EMPTY_DIR] [FILE]

FILE (default `-`, standard input) holds the tap's stdout. It is fed unchanged
to the `target-jsonl` console script of PyPI's `target-jsonl` package, the one
installed next to this interpreter, with the config

  {"destination_path": DIR, "do_timestamp_file": false}

so that it writes `DIR/<stream>.jsonl`, one line per RECORD. target-jsonl
parses every line with singer-python (`singer.parse_message`: a line that is
not JSON, or a RECORD/SCHEMA/STATE missing a required key, fails), refuses a
RECORD before its stream's SCHEMA, and validates every record against that
SCHEMA with jsonschema's Draft4Validator (types, required, enum, ...; no
`format` checks). A message type it does not know (not SCHEMA, RECORD, STATE,
ACTIVATE_VERSION) makes it crash too.

When target-jsonl exits non-zero, its stderr is printed and this exits 1.
Otherwise prints one JSON object:

  rows          {stream: lines in DIR/<stream>.jsonl}
  files         the file names target-jsonl wrote
  final_state   what target-jsonl printed on stdout (the last STATE's value,
                only when no RECORD followed it), parsed, or null
  input_counts  {message type: count} of the input lines, as read here

Without --destination a temporary directory is used and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict


def target_jsonl_path() -> str:
    """The `target-jsonl` script of the package installed beside this interpreter."""
    bin_dir = os.path.dirname(os.path.abspath(sys.executable))
    path = os.path.join(bin_dir, "target-jsonl")
    if not os.access(path, os.X_OK):
        print(
            f"singer_target: {path} is missing: run this with the pinned virtualenv's "
            "interpreter (see tests/python/README.md)",
            file=sys.stderr,
        )
        sys.exit(2)
    return path


def input_counts(data: bytes) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            kind = json.loads(raw).get("type", "(no type)")
        except (ValueError, AttributeError):
            kind = "(not a JSON object)"
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    return counts


def run(data: bytes, destination: str) -> Dict[str, Any]:
    os.makedirs(destination, exist_ok=True)
    if os.listdir(destination):
        # target-jsonl appends to existing files: old rows would be counted.
        print(f"singer_target: {destination} is not empty", file=sys.stderr)
        sys.exit(2)
    config_path = os.path.join(destination, ".target-jsonl-config.json")
    with open(config_path, "w") as f:
        json.dump({"destination_path": destination, "do_timestamp_file": False}, f)
    try:
        done = subprocess.run(
            [target_jsonl_path(), "--config", config_path],
            input=data,
            capture_output=True,
            cwd=destination,
        )
    finally:
        os.remove(config_path)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode("utf-8", errors="replace"))
        print(
            f"singer_target: target-jsonl failed (exit code {done.returncode})",
            file=sys.stderr,
        )
        sys.exit(1)

    rows: Dict[str, int] = {}
    files = sorted(os.listdir(destination))
    for name in files:
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(destination, name), "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for line in lines:
            json.loads(line)  # target-jsonl wrote JSON; a failure here is a bug to see
        rows[name[: -len(".jsonl")]] = len(lines)

    out = done.stdout.decode("utf-8").strip()
    final_state = json.loads(out.splitlines()[-1]) if out else None
    return {
        "rows": rows,
        "files": files,
        "final_state": final_state,
        "input_counts": input_counts(data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="singer_target.py", description=__doc__.splitlines()[0])
    parser.add_argument("--destination", help="directory for target-jsonl's files (kept)")
    parser.add_argument("file", nargs="?", default="-")
    args = parser.parse_args()
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as f:
            data = f.read()
    if args.destination:
        summary = run(data, args.destination)
    else:
        destination = tempfile.mkdtemp(prefix="singer-target-")
        try:
            summary = run(data, destination)
        finally:
            shutil.rmtree(destination, ignore_errors=True)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
