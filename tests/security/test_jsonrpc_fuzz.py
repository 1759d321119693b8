"""Property-based fuzz of a public node's JSON-RPC endpoint over HTTP (a `lamas serve`
process, see conftest.py): whatever hypothesis sends, the answer is a clean JSON-RPC
error or result (never a 5xx, never "internal error"), the node stays up, answers its
card, and its memory stays bounded."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.guarded import EVERY_METHODS, Guarded, Rpc

INTERNAL_ERROR = -32603

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
message = st.fixed_dictionaries(
    {
        "messageId": st.text(max_size=40),
        "role": st.sampled_from(["ROLE_USER", "ROLE_AGENT", "x", 3]),
    },
    optional={
        "parts": st.lists(
            st.one_of(
                st.fixed_dictionaries({"text": st.text(max_size=200)}),
                st.fixed_dictionaries({"data": json_values}),
                st.fixed_dictionaries({"url": st.text(max_size=40)}),
                json_values,
            ),
            max_size=3,
        ),
        "taskId": st.text(max_size=40),
        "metadata": json_values,
    },
)
params = st.one_of(
    st.fixed_dictionaries({"message": message}, optional={"configuration": json_values}),
    st.fixed_dictionaries({"id": st.text(max_size=40)}, optional={"historyLength": st.integers()}),
    st.dictionaries(st.sampled_from(["id", "taskId", "pageSize", "status", "tenant"]), json_values),
    json_values,
)
requests = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2]),
        "method": st.sampled_from(EVERY_METHODS) | st.text(max_size=20),
        "params": params,
    },
    optional={"id": st.one_of(st.integers(), st.text(max_size=10), st.none())},
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Lamas-Capability": st.sampled_from(["H" * 43, "short", ""]),
        "Authorization": st.sampled_from(["Bearer x.y.z", "Basic abc", "Bearer"]),
    },
)


def check(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.headers.get("content-type", "").startswith("application/json"):
        body: Any = answer.json()
        if isinstance(body, dict) and "error" in body:
            assert body["error"]["code"] != INTERNAL_ERROR, body


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests, sent_headers=headers)
# An empty text part once reached the SDK's task helper and came back as an internal error.
@example(
    request={
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": ""}]}},
    },
    sent_headers={},
)
def test_any_json_rpc_request_gets_a_clean_answer(
    guarded: Guarded, door_rpc: Rpc, request: dict[str, Any], sent_headers: dict[str, str]
) -> None:
    check(door_rpc.post(json.dumps(request), sent_headers))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300))
def test_any_bytes_get_a_clean_answer(door_rpc: Rpc, body: bytes) -> None:
    check(door_rpc.post(body))


def test_after_the_fuzz_the_node_is_up_and_small(guarded: Guarded) -> None:
    card = httpx.get(f"{guarded.door}.well-known/agent-card.json", timeout=10)
    assert card.status_code == 200
    assert guarded.cluster.rss_kib("door") < 600_000
