#!/usr/bin/env python3
"""Validate Airbyte protocol output with Airbyte's own pydantic models.

Run with the interpreter of the pinned virtualenv (see README.md); the models
come from PyPI's `airbyte-protocol-models-pdv2` (`airbyte_protocol.models`).

Subcommands (FILE may be `-` for standard input):

  messages [FILE]                  (the default when no subcommand is given)
      Every line of FILE must be one AirbyteMessage: the Airbyte protocol says
      a connector's stdout carries only messages, so a line that is not JSON,
      a blank line or text that is not UTF-8 is a failure too. Each line is
      validated with `AirbyteMessage.model_validate_json` as Airbyte's Python
      tooling does (lax), then again with `strict=True`, so a value the models
      would only accept by coercion (an `emitted_at` of "12", say) fails too.
      On top of the models, which leave every payload optional, the field that
      the message's `type` names must be set (a RECORD carries `record`, a
      TRACE of type ERROR carries `trace.error`, a STREAM state carries
      `state.stream`, ...). On success prints one JSON object (see
      `summarise`); on failure prints every bad line (line number, the line,
      the pydantic error) to stderr and exits 1.

  check-configured-catalog FILE
      FILE is one ConfiguredAirbyteCatalog (what `read --catalog` takes).

  check-state FILE
      FILE is a JSON array of AirbyteStateMessage (what `read --state` takes).

Exit codes: 0 valid, 1 invalid input, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional, Tuple

import pydantic
from airbyte_protocol.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
)

# The payload field that each message type must carry.
PAYLOAD_FIELD = {
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "TRACE": "trace",
    "CONTROL": "control",
    "DESTINATION_CATALOG": "destination_catalog",
}

# The field of an AirbyteTraceMessage that each trace type must carry.
TRACE_FIELD = {
    "ERROR": "error",
    "ESTIMATE": "estimate",
    "STREAM_STATUS": "stream_status",
    "ANALYTICS": "analytics",
}

MAX_REPORTED_ERRORS = 20
MAX_QUOTED_LINE = 300


class Invalid(Exception):
    """One input that the models (or the protocol's type/payload rule) reject."""


def fail_usage(message: str) -> None:
    print(f"airbyte_messages: {message}", file=sys.stderr)
    sys.exit(2)


def read_text(path: str) -> str:
    data = read_input(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        report([f"{path}: not UTF-8 ({e})"], "input")
        raise  # unreachable


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        fail_usage(f"cannot read {path}: {e}")
        raise  # unreachable


def validate_json(model: Any, text: str) -> Any:
    """`model_validate_json` lax (as Airbyte does), then strict; raises Invalid."""
    try:
        parsed = model.model_validate_json(text)
    except pydantic.ValidationError as e:
        raise Invalid(str(e)) from None
    try:
        model.model_validate_json(text, strict=True)
    except pydantic.ValidationError as e:
        raise Invalid(
            "accepted by the models only by coercing a value; strict validation says:\n"
            + str(e)
        ) from None
    return parsed


def enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def stream_key(name: str, namespace: Optional[str]) -> str:
    """How a stream is named in the summary: `name`, or `namespace.name`."""
    return f"{namespace}.{name}" if namespace else name


def check_state_payload(state: AirbyteStateMessage, where: str) -> None:
    kind = enum_value(state.type)
    if kind == "STREAM" and state.stream is None:
        raise Invalid(f"{where}: a state of type STREAM has no `stream`")
    if kind == "GLOBAL" and state.global_ is None:
        raise Invalid(f"{where}: a state of type GLOBAL has no `global`")
    if kind in ("LEGACY", None) and state.data is None:
        raise Invalid(f"{where}: a state of type {kind or '(none, legacy)'} has no `data`")


def check_payload(message: AirbyteMessage) -> None:
    """The protocol's rule that the models do not enforce: `type` names the payload."""
    kind = enum_value(message.type)
    field = PAYLOAD_FIELD[kind]
    if getattr(message, field) is None:
        raise Invalid(f"a message of type {kind} has no `{field}`")
    if kind == "TRACE":
        trace_kind = enum_value(message.trace.type)
        trace_field = TRACE_FIELD[trace_kind]
        if getattr(message.trace, trace_field) is None:
            raise Invalid(f"a TRACE of type {trace_kind} has no `trace.{trace_field}`")
    if kind == "STATE":
        check_state_payload(message.state, "state")


def unknown_fields(model: Any, path: str, found: Dict[str, int]) -> None:
    """Counts fields the models do not define (they all allow extras), by dotted path.

    A state blob is all extras by design, so it is not walked."""
    if isinstance(model, AirbyteStateBlob):
        return
    if isinstance(model, pydantic.BaseModel):
        for key in (model.model_extra or {}):
            dotted = f"{path}.{key}" if path else key
            found[dotted] = found.get(dotted, 0) + 1
        for name in type(model).model_fields:
            value = getattr(model, name)
            if value is not None:
                unknown_fields(value, f"{path}.{name}" if path else name, found)
    elif isinstance(model, list):
        for item in model:
            unknown_fields(item, f"{path}[]", found)


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def trace_entry(trace: Any, line: int) -> Tuple[Optional[str], Dict[str, Any]]:
    """A compact view of one trace and the stream it belongs to (None: no stream)."""
    kind = enum_value(trace.type)
    entry: Dict[str, Any] = {"type": kind, "line": line}
    stream = None
    if kind == "STREAM_STATUS":
        status = trace.stream_status
        entry["status"] = enum_value(status.status)
        if status.reasons:
            entry["reasons"] = [dump(r) for r in status.reasons]
        stream = stream_key(status.stream_descriptor.name, status.stream_descriptor.namespace)
    elif kind == "ERROR":
        error = trace.error
        entry["error"] = {
            key: value
            for key, value in (
                ("message", error.message),
                ("internal_message", error.internal_message),
                ("failure_type", enum_value(error.failure_type)),
            )
            if value is not None
        }
        if error.stream_descriptor is not None:
            stream = stream_key(error.stream_descriptor.name, error.stream_descriptor.namespace)
    elif kind == "ESTIMATE":
        estimate = trace.estimate
        entry["estimate"] = dump(estimate)
        stream = stream_key(estimate.name, estimate.namespace)
    elif kind == "ANALYTICS":
        entry["analytics"] = dump(trace.analytics)
    return stream, entry


def summarise(messages: List[AirbyteMessage]) -> Dict[str, Any]:
    """The summary printed by `messages`.

    Streams are keyed by name, or `namespace.name` when a namespace is set.
    `line` numbers are 1-based input lines, so callers can check ordering."""
    counts: Dict[str, int] = {}
    records: Dict[str, int] = {}
    record_lines: Dict[str, List[int]] = {}
    log_levels: Dict[str, int] = {}
    traces_per_stream: Dict[str, List[Dict[str, Any]]] = {}
    traces_without_stream: List[Dict[str, Any]] = []
    stream_states: Dict[str, Dict[str, Any]] = {}
    global_states: Dict[str, Any] = {"count": 0}
    legacy_states: Dict[str, Any] = {"count": 0}
    spec: List[Any] = []
    catalog: List[Any] = []
    connection_status: List[Any] = []
    control: List[Any] = []
    extras: Dict[str, int] = {}

    for line, message in enumerate(messages, start=1):
        kind = enum_value(message.type)
        counts[kind] = counts.get(kind, 0) + 1
        unknown_fields(message, "", extras)
        if kind == "RECORD":
            key = stream_key(message.record.stream, message.record.namespace)
            records[key] = records.get(key, 0) + 1
            span = record_lines.setdefault(key, [line, line])
            span[1] = line
        elif kind == "LOG":
            level = enum_value(message.log.level)
            log_levels[level] = log_levels.get(level, 0) + 1
        elif kind == "TRACE":
            stream, entry = trace_entry(message.trace, line)
            if stream is None:
                traces_without_stream.append(entry)
            else:
                traces_per_stream.setdefault(stream, []).append(entry)
        elif kind == "STATE":
            state = message.state
            state_kind = enum_value(state.type)
            if state_kind == "STREAM":
                descriptor = state.stream.stream_descriptor
                key = stream_key(descriptor.name, descriptor.namespace)
                entry = stream_states.setdefault(
                    key, {"count": 0, "source_record_count": 0.0, "lines": []}
                )
                entry["count"] += 1
                entry["lines"].append(line)
                entry["last_stream_state"] = (
                    dump(state.stream.stream_state) if state.stream.stream_state is not None else None
                )
                if state.sourceStats is not None:
                    entry["last_source_stats"] = dump(state.sourceStats)
                    if state.sourceStats.recordCount is not None:
                        entry["source_record_count"] += state.sourceStats.recordCount
            elif state_kind == "GLOBAL":
                global_states["count"] += 1
                global_states["last"] = dump(state.global_)
                global_states["last_line"] = line
            else:
                legacy_states["count"] += 1
                legacy_states["last"] = state.data
                legacy_states["last_line"] = line
        elif kind == "SPEC":
            spec.append(dump(message.spec))
        elif kind == "CATALOG":
            catalog.append(dump(message.catalog))
        elif kind == "CONNECTION_STATUS":
            connection_status.append(dump(message.connectionStatus))
        elif kind == "CONTROL":
            control.append(dump(message.control))

    return {
        "messages": len(messages),
        "counts": counts,
        "records": records,
        "record_lines": record_lines,
        "log_levels": log_levels,
        "traces_per_stream": traces_per_stream,
        "traces_without_stream": traces_without_stream,
        "states": {
            "per_stream": stream_states,
            "global": global_states,
            "legacy": legacy_states,
        },
        "spec": spec,
        "catalog": catalog,
        "connection_status": connection_status,
        "control": control,
        "unknown_fields": extras,
    }


def quote(line: str) -> str:
    return line if len(line) <= MAX_QUOTED_LINE else line[:MAX_QUOTED_LINE] + "..."


def report(errors: List[str], what: str) -> None:
    print(f"airbyte_messages: {len(errors)} invalid {what}", file=sys.stderr)
    for error in errors[:MAX_REPORTED_ERRORS]:
        print(error, file=sys.stderr)
    if len(errors) > MAX_REPORTED_ERRORS:
        print(f"... and {len(errors) - MAX_REPORTED_ERRORS} more", file=sys.stderr)
    sys.exit(1)


def cmd_messages(path: str) -> None:
    data = read_input(path)
    # `splitlines` would also split on \r, \x0b, \x1c...: only \n ends a line.
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the final newline ends the last line; it starts none
    messages: List[AirbyteMessage] = []
    errors: List[str] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            errors.append(f"line {number}: not UTF-8 ({e}): {raw[:MAX_QUOTED_LINE]!r}")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(
                f"line {number}: not JSON ({e}); stdout must carry only Airbyte messages:\n"
                f"  {quote(line)!r}"
            )
            continue
        if not isinstance(value, dict):
            errors.append(f"line {number}: a JSON {type(value).__name__}, not a message object:\n  {quote(line)}")
            continue
        try:
            message = validate_json(AirbyteMessage, line)
            check_payload(message)
        except Invalid as e:
            errors.append(f"line {number}: not a valid AirbyteMessage:\n  {quote(line)}\n{e}")
            continue
        messages.append(message)
    if errors:
        report(errors, f"line(s) of {len(raw_lines)}")
    print(json.dumps(summarise(messages), sort_keys=True))


def cmd_configured_catalog(path: str) -> None:
    text = read_text(path)
    try:
        catalog = validate_json(ConfiguredAirbyteCatalog, text)
    except Invalid as e:
        report([f"{path}: not a valid ConfiguredAirbyteCatalog:\n{e}"], "configured catalog")
    extras: Dict[str, int] = {}
    unknown_fields(catalog, "", extras)
    streams = []
    for configured in catalog.streams:
        entry = {
            "name": configured.stream.name,
            "sync_mode": enum_value(configured.sync_mode),
            "destination_sync_mode": enum_value(configured.destination_sync_mode),
        }
        for key in ("namespace",):
            if getattr(configured.stream, key) is not None:
                entry[key] = getattr(configured.stream, key)
        for key in ("cursor_field", "primary_key"):
            if getattr(configured, key) is not None:
                entry[key] = getattr(configured, key)
        streams.append(entry)
    print(json.dumps(
        {"streams": streams, "catalog": dump(catalog), "unknown_fields": extras},
        sort_keys=True,
    ))


STATE_LIST = pydantic.TypeAdapter(List[AirbyteStateMessage])


def cmd_state(path: str) -> None:
    text = read_text(path)
    try:
        states = STATE_LIST.validate_json(text)
        STATE_LIST.validate_json(text, strict=True)
    except pydantic.ValidationError as e:
        report([f"{path}: not a valid list of AirbyteStateMessage:\n{e}"], "state file")
    errors = []
    for index, state in enumerate(states):
        try:
            check_state_payload(state, f"state [{index}]")
        except Invalid as e:
            errors.append(str(e))
    if errors:
        report(errors, "state file entries")
    extras: Dict[str, int] = {}
    streams: Dict[str, Any] = {}
    for state in states:
        unknown_fields(state, "", extras)
        if enum_value(state.type) == "STREAM":
            descriptor = state.stream.stream_descriptor
            blob = state.stream.stream_state
            streams[stream_key(descriptor.name, descriptor.namespace)] = (
                dump(blob) if blob is not None else None
            )
    print(json.dumps(
        {
            "count": len(states),
            "types": [enum_value(s.type) for s in states],
            "streams": streams,
            "states": [dump(s) for s in states],
            "unknown_fields": extras,
        },
        sort_keys=True,
    ))


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="airbyte_messages.py",
        description="Validate Airbyte protocol output with airbyte_protocol.models.",
    )
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("messages", help="validate JSON lines of AirbyteMessage")
    p.add_argument("file", nargs="?", default="-")
    p = sub.add_parser("check-configured-catalog", help="validate a ConfiguredAirbyteCatalog")
    p.add_argument("file")
    p = sub.add_parser("check-state", help="validate a list of AirbyteStateMessage")
    p.add_argument("file")
    if not argv or argv[0] not in ("messages", "check-configured-catalog", "check-state", "-h", "--help"):
        argv = ["messages", *argv]
    args = parser.parse_args(argv)
    if args.command == "messages":
        cmd_messages(args.file)
    elif args.command == "check-configured-catalog":
        cmd_configured_catalog(args.file)
    elif args.command == "check-state":
        cmd_state(args.file)


if __name__ == "__main__":
    main(sys.argv[1:])
