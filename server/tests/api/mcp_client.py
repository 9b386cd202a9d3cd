"""An agent's walk through Rekey's MCP server with the official Python client (`mcp` from PyPI,
Streamable HTTP). Started by server/tests/api/mcp.rs against a running Rekey:

    python mcp_client.py URL TOKEN TOTP_SEED           # the whole walk
    python mcp_client.py URL TOKEN --scoped            # what a narrowly scoped token sees
    python mcp_client.py URL TOKEN --rotation PLAN     # plan a campaign, draft three consumers
                                                       # (PLAN: JSON with the consumers' tag and
                                                       # the timeline)
    python mcp_client.py --stdio REKEY_BIN TOKEN_FILE  # `rekey mcp` over stdio (REKEY_* from
                                                       # this process's environment)

Prints one JSON object with what each step answered; the Rust test asserts on it.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def outcome(result):
    """A tool result as data: its structured content, and whether it is an error."""
    content = result.structured_content
    if content is None and result.content:
        text = getattr(result.content[0], "text", "")
        try:
            content = json.loads(text)
        except ValueError:
            content = text
    return {"error": bool(result.is_error), "content": content}


async def walk(url, token, totp_seed):
    report = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                report["server"] = init.server_info.name
                report["instructions"] = init.instructions
                tools = await session.list_tools()
                report["tools"] = sorted(t.name for t in tools.tools)
                report["schemas"] = {t.name: t.input_schema for t in tools.tools}

                async def call(name, args=None):
                    return outcome(await session.call_tool(name, args or {}))

                if totp_seed == "--scoped":
                    report["search"] = await call("search_consumers", {"per_page": 1})
                    report["vault"] = await call("vault_list")
                    print(json.dumps(report))
                    return
                if totp_seed == "--rotation":
                    await rotation(call, report, json.loads(sys.argv[4]))
                    print(json.dumps(report))
                    return

                # The seeds' rotation: production keys older than 90 days, and who holds them.
                report["old_production"] = await call(
                    "search_consumers", {"environment": "production", "older_than_days": 90}
                )
                report["credentials"] = await call(
                    "list_credentials", {"environment": "production", "older_than_days": 90}
                )
                consumers = report["old_production"]["content"]["consumers"]
                if consumers:
                    report["consumer"] = await call("get_consumer", {"consumer": consumers[0]["id"]})
                report["campaigns"] = await call("list_campaigns", {"per_page": 10})
                report["pending"] = await call("list_pending", {"checks": "failing"})

                # A draft with a key pasted into it: saved, its checks fail, and it goes to review,
                # where no person can approve it.
                pending = await call("list_pending")
                report["all_pending"] = pending
                first = pending["content"]["notices"][0]
                status = await call("notice_status", {"notice": first["id"]})
                report["status"] = status
                report["revised"] = await call("revise_notice", {
                    "notice": first["id"],
                    "based_on_version": status["content"]["notice"]["version"],
                    "subject": "Rotate your API key before the deadline",
                    "body": "Use this key for now: sk_live_51HqLyjWDarjtT1zdp7dcXYZpasted0123 and rotate later.",
                })
                report["stale"] = await call("revise_notice", {
                    "notice": first["id"],
                    "based_on_version": status["content"]["notice"]["version"],
                    "subject": "Too late",
                    "body": "This edit started from an old version.",
                })
                report["submitted"] = await call("submit_notice", {"notice": first["id"]})
                report["bad_page"] = await call("search_consumers", {"per_page": 9000})
                report["missing_consumer"] = await call("get_consumer", {"consumer": 999999})

                # The vault: the agent's own partition.
                report["partitions"] = await call("vault_list")
                own = report["partitions"]["content"][0]["name"]
                report["stored"] = await call(
                    "vault_store",
                    {"partition": own, "name": "payments-key", "kind": "api_key",
                     "value": "sk_live_mcpTESTvalue0123456789abcdef", "label": "from MCP"},
                )
                report["read"] = await call("vault_get", {"partition": own, "name": "payments-key"})
                report["listed"] = await call("vault_list", {"partition": own})
                report["seed_stored"] = await call(
                    "vault_store",
                    {"partition": own, "name": "console-totp", "kind": "totp_seed", "value": totp_seed},
                )
                report["totp"] = await call("vault_totp", {"partition": own, "name": "console-totp"})
                report["generated"] = await call(
                    "vault_generate", {"partition": own, "name": "payments-key", "length": 40}
                )
                report["not_granted"] = await call(
                    "vault_get", {"partition": "payments-team", "name": "anything"}
                )

                # What an agent must never do: there is no such tool to call.
                refused = {}
                for name in ["approve_notice", "send_notice", "reject_notice", "change_settings",
                             "create_user", "issue_token"]:
                    refused[name] = await call(name, {"notice": 1})
                report["refused"] = refused
    print(json.dumps(report))


async def rotation(call, report, plan):
    """The seeds' rotation, planned by the agent: old production keys, a campaign over them,
    three consumers drafted (one with a key pasted in), what waits for review, a key event."""
    found = await call("list_credentials", {
        "tag": plan["tag"], "environment": "production", "older_than_days": 90,
    })
    report["found"] = found
    lines = found["content"]["credentials"]
    credentials = [line["credential"]["id"] for line in lines]
    consumers = sorted({line["credential"]["consumer"] for line in lines})
    report["planned"] = await call("plan_campaign", {
        "name": "Rotate production keys older than 90 days",
        "credentials": credentials,
        "announce_at": plan["announce_at"],
        "new_key_at": plan["new_key_at"],
        "deadline_at": plan["deadline_at"],
        "grace_end_at": plan["grace_end_at"],
        "reminder_days": "7,1",
        "escalation_days": "",
    })
    campaign = report["planned"]["content"]["campaign"]
    report["bad_plan"] = await call("plan_campaign", {
        "name": "Backwards", "credentials": credentials,
        "announce_at": plan["deadline_at"], "new_key_at": plan["new_key_at"],
        "deadline_at": plan["announce_at"], "grace_end_at": plan["grace_end_at"],
    })
    report["drafted"] = [
        await call("draft_notice", {"campaign": campaign, "consumer": consumers[0]}),
        await call("draft_notice", {
            "campaign": campaign, "consumer": consumers[1],
            "subject": "Rotate your API key",
            "body": "Use this key for now: sk_live_51HqLyjWDarjtT1zdp7dcXYZpasted0123 and rotate later.",
        }),
        await call("draft_notice", {
            "campaign": campaign, "consumer": consumers[2],
            "subject": "Your API key changes: move to the new key before the deadline",
            "body": "Hello,\n\nWe are rotating the production API key your integration uses. "
                    "Your new key is in the dashboard from the day it is issued; switch to it "
                    "before the deadline stated in our announcement.\n\nThank you.",
        }),
    ]
    report["drafted_twice"] = await call("draft_notice", {"campaign": campaign, "consumer": consumers[2]})
    report["half_text"] = await call("draft_notice", {
        "campaign": campaign, "consumer": consumers[0], "subject": "Only a subject",
    })
    report["pending"] = await call("list_pending", {"campaign": campaign})
    for drafted in report["drafted"][:2]:
        report["tagged"] = await call("tag_notice", {
            "notice": drafted["content"]["announcement"], "tags": ["wave-1"],
        })
    report["wave"] = await call("list_pending", {"campaign": campaign, "tag": "wave-1"})
    report["status"] = await call("campaign_status", {"campaign": campaign})
    old = lines[0]["credential"]
    holder = await call("get_consumer", {"consumer": old["consumer"]})
    report["created"] = await call("record_key_event", {
        "id": "mcp-created-1", "type": "key.created", "occurred_at": plan["announce_at"] + ":00Z",
        "data": {"credential": old["external_id"] + "-new", "consumer": holder["content"]["external_id"],
                 "environment": "production", "prefix": "sk_live_newmcp"},
    })
    report["rotated"] = await call("record_key_event", {
        "id": "mcp-rotated-1", "type": "key.rotated", "occurred_at": plan["announce_at"] + ":00Z",
        "data": {"credential": old["external_id"], "replacement": old["external_id"] + "-new"},
    })
    report["rotated_again"] = await call("record_key_event", {
        "id": "mcp-rotated-1", "type": "key.rotated", "occurred_at": plan["announce_at"] + ":00Z",
        "data": {"credential": old["external_id"], "replacement": old["external_id"] + "-new"},
    })
    report["bad_event"] = await call("record_key_event", {
        "id": "mcp-bad", "type": "key.exploded", "occurred_at": plan["announce_at"] + ":00Z", "data": {},
    })
    report["no_start"] = await call("start_campaign", {"campaign": campaign})

    # The team hears about it: a summary for an engineer, checked and reviewed like a notice.
    deadline_day = plan["deadline_at"][:10]
    report["team_summary"] = await call("notify_team", {
        "campaign": campaign, "to": plan["team_user"],
        "subject": "Planned: rotate production keys older than 90 days",
        "body": f"I planned a rotation of {len(credentials)} production keys older than 90 days, "
                f"deadline {deadline_day}. Please review and start it: "
                "https://docs.acme.example/key-rotation",
    })
    report["team_secret"] = await call("notify_team", {
        "campaign": campaign, "to": plan["team_user"], "subject": "The key I found",
        "body": "The old key is sk_live_51HqLyjWDarjtT1zdp7dcXYZpasted0123, rotate it by 2031-02-30.",
    })
    report["team_unset"] = await call("notify_team", {
        "campaign": campaign, "to": "team", "subject": "Summary", "body": "Planned.",
    })
    report["team_nobody"] = await call("notify_team", {
        "campaign": campaign, "to": "nobody-here", "subject": "Summary", "body": "Planned.",
    })


async def over_stdio(binary, token_file):
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if k.startswith("REKEY_")}
    server = StdioServerParameters(command=binary, args=["mcp", "--token-file", token_file], env=env)
    report = {}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            report["server"] = init.server_info.name
            tools = await session.list_tools()
            report["tools"] = sorted(t.name for t in tools.tools)
            report["search"] = outcome(await session.call_tool("search_consumers", {"per_page": 2}))
            report["partitions"] = outcome(await session.call_tool("vault_list", {}))
    print(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "--stdio":
        asyncio.run(over_stdio(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(walk(sys.argv[1], sys.argv[2], sys.argv[3]))
