"""``raygent status`` and ``raygent dlq``: inspect a running system and its dead letters."""

from __future__ import annotations

from typing import Annotated

import typer

from scenarios._connect import open_runtime
from scenarios._render import StatusView
from scenarios.cli._edge import (
    AddressOpt,
    JsonOpt,
    NamespaceOpt,
    console,
    edge,
    err_console,
    fail,
    print_json,
)
from scenarios.cli.render import dead_letter_json, dead_letter_table, status_json


@edge
def status(address: AddressOpt = "auto", namespace: NamespaceOpt = None,
           as_json: JsonOpt = False) -> None:
    """Show every agent of a running system and the dead-letter count."""
    runtime = open_runtime(address, namespace)
    try:
        view = runtime.status()
    finally:
        runtime.disconnect()
    if as_json:
        print_json(status_json(view))
    else:
        console.print(StatusView(view))


@edge
def dlq_list(
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1,
                                       help="Show at most this many, newest.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters: messages that could not be delivered, and why."""
    runtime = open_runtime(address, namespace)
    try:
        # Payloads as text: this process need not import every agent's message classes.
        letters = runtime.dead_letters(limit, payloads=False)
        total = runtime.status().dead_letters
    finally:
        runtime.disconnect()
    if as_json:
        print_json({"total": total, "dead_letters": [dead_letter_json(d) for d in letters]})
    else:
        console.print(dead_letter_table(letters, total=total))


@edge
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Argument(
        help="Ids of the dead letters to queue again (see `raygent dlq list`).",
        show_default=False)] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")
                          ] = False,
    address: AddressOpt = "auto", namespace: NamespaceOpt = None,
) -> None:
    """Queue dead letters again as first attempts (by id, or all with --all)."""
    if not ids and not replay_all:
        fail("give the ids of the dead letters to replay, or --all", code=2)
    if ids and replay_all:
        fail("give either ids or --all, not both", code=2)
    runtime = open_runtime(address, namespace)
    try:
        replayed = runtime.replay_dead_letters(None if replay_all else list(ids or []))
        left = runtime.status().dead_letters
    finally:
        runtime.disconnect()
    console.print(f"replayed {replayed} dead letters; {left} left in the queue")
    if ids and replayed < len(ids):
        err_console.print(
            f"[yellow]{len(ids) - replayed} of the given ids were not replayed: unknown ids, "
            "or their recipient is gone, failed or full (see `raygent dlq list`)[/]")


@edge
def dlq_purge(address: AddressOpt = "auto", namespace: NamespaceOpt = None) -> None:
    """Delete every dead letter."""
    runtime = open_runtime(address, namespace)
    try:
        purged = runtime.purge_dead_letters()
    finally:
        runtime.disconnect()
    console.print(f"purged {purged} dead letters")
