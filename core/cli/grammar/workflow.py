"""The grammar of the release commands (core.cli.workflow): request-review, gate,
approve/reject/request-changes, promote, rollback, production, audit, model-card."""

from __future__ import annotations

from core.cli.grammar.common import Commands, Parser

RUN = "core.cli.workflow"


def declare(commands: Commands) -> None:
    """Declare request-review, gate, the three decisions, promote, rollback, production, audit
    and model-card."""
    p = commands.add(
        "request-review",
        f"{RUN}:cmd_request_review",
        help="compute and freeze the release gates; put the version in review",
    )
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--user", help="who asks; password from MODELBRIDGE_PASSWORD or a prompt")

    p = commands.add(
        "gate",
        f"{RUN}:cmd_gate",
        help="exit 0 when every blocking gate of the open review passes, else 1",
    )
    p.add_argument("model")
    p.add_argument("version", type=int)

    for name, text in (
        ("approve", "approve a version in review"),
        ("reject", "reject a version in review"),
        ("request-changes", "send a version in review back to its authors"),
    ):
        p = commands.add(name, f"{RUN}:cmd_sign", help=text)
        p.add_argument("model")
        p.add_argument("version", type=int)
        p.add_argument("--user", required=True)
        p.add_argument("--comment", required=True, help="why (kept in the audit trail)")

    p = commands.add("promote", f"{RUN}:cmd_promote", help="make an approved version live")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--user", required=True)

    p = commands.add("rollback", f"{RUN}:cmd_rollback", help="put the previous live version back")
    p.add_argument("model")
    p.add_argument("--user", required=True)

    p = commands.add("production", f"{RUN}:cmd_production", help="the live version, for serving")
    p.add_argument("model")

    p = commands.add("audit", f"{RUN}:cmd_audit", help="the audit trail", shared=False)
    actions = p.add_subparsers(dest="audit_command", required=True, parser_class=Parser)
    q = actions.add_parser("list", parents=[commands.shared], help="events, newest first")
    q.add_argument("--model")
    q.add_argument("--actor")
    q.add_argument("--action")
    q.add_argument("--limit", type=int, default=50)
    q = actions.add_parser(
        "verify",
        parents=[commands.shared],
        help="exit 1 when the hash chain is broken or the stages disagree with it",
    )
    q.add_argument(
        "--anchor",
        metavar="ID:HASH",
        help="an anchor kept from `audit head`: also catch a trail cut short or rewritten",
    )
    actions.add_parser(
        "head",
        parents=[commands.shared],
        help="print the anchor (newest event's ID:HASH) to keep outside the store",
    )
    q = actions.add_parser("export", parents=[commands.shared], help="write the trail to CSV")
    q.add_argument("--out", required=True)

    p = commands.add("model-card", f"{RUN}:cmd_model_card", help="write an HTML model card")
    p.add_argument("model")
    p.add_argument("version", type=int)
    p.add_argument("--out", required=True)
