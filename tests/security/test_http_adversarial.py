"""Attacks on guarded nodes over real HTTP, each agent its own process (see conftest.py).

Every A2A method refuses an anonymous caller of a private agent before any task exists;
on a public agent each caller sees only its own tasks; no identity reads or cancels
another's task; forged, replayed and tampered envelopes and tokens are refused; oversized
and malformed bodies get clean errors; floods are bounded per caller; the node's memory
and task count stay bounded; and the node answers its card all along.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from support.guarded import DOOR_MAX_TASKS, Guarded, Rpc, error_code, keeper_args, text_message

from lamas.interop.tokens import mint
from lamas.interop.wire import envelope_to_a2a
from lamas.protocol import Envelope, Message
from lamas.security.identity import PrivateKey
from lamas.security.signing import sign_envelope

UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED = -32030, -32031, -32032
TASK_NOT_FOUND, PARSE_ERROR, INVALID_REQUEST = -32001, -32700, -32600

TASK = "0" * 8 + "-0000-0000-0000-" + "0" * 12
EVERY_METHOD: dict[str, dict[str, Any]] = {
    "SendMessage": {"message": text_message("hello")},
    "SendStreamingMessage": {"message": text_message("hello")},
    "GetTask": {"id": TASK},
    "ListTasks": {"includeArtifacts": True},
    "CancelTask": {"id": TASK},
    "SubscribeToTask": {"id": TASK},
    "CreateTaskPushNotificationConfig": {"taskId": TASK, "url": "http://127.0.0.1:9/hook"},
    "GetTaskPushNotificationConfig": {"taskId": TASK, "id": "x"},
    "ListTaskPushNotificationConfigs": {"taskId": TASK},
    "DeleteTaskPushNotificationConfig": {"taskId": TASK, "id": "x"},
    "GetExtendedAgentCard": {},
}


def signed_send(guarded: Guarded, sender: str, text: str, **envelope: Any) -> dict[str, Any]:
    """SendMessage params carrying a lamas envelope from `sender` to keeper, signed."""
    made = Envelope(sender=sender, recipient="keeper", message=Message.of_text(text), **envelope)
    signed = sign_envelope(made, guarded.keys.agent_key(sender))
    return {"message": MessageToDict(envelope_to_a2a(signed)), "configuration": {}}


def tasks_of(rpc: Rpc, headers: dict[str, str]) -> list[dict[str, Any]]:
    for _ in range(50):  # as a client should: wait out the door's rate limit after a burst
        answer = rpc.call("ListTasks", {"includeArtifacts": True}, headers)
        if error_code(answer) != RATE_LIMITED:
            break
        time.sleep(0.1)
    assert "result" in answer, answer
    tasks: list[dict[str, Any]] = answer["result"].get("tasks", [])
    return tasks


# --- a private agent ----------------------------------------------------------------------


@pytest.mark.parametrize("method", list(EVERY_METHOD))
def test_an_anonymous_call_of_any_method_on_a_private_agent_is_refused_up_front(
    guarded: Guarded, keeper_rpc: Rpc, method: str
) -> None:
    before = {t["id"] for t in tasks_of(keeper_rpc, guarded.auth("alice", "keeper"))}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": EVERY_METHOD[method]}
    response = keeper_rpc.post(json.dumps(body))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert error_code(response.json()) == UNAUTHENTICATED
    # A credential that proves nothing is refused the same way, by the guard.
    junk = keeper_rpc.call(method, EVERY_METHOD[method], {"Authorization": "Bearer junk"})
    assert error_code(junk) == UNAUTHENTICATED, junk
    after = {t["id"] for t in tasks_of(keeper_rpc, guarded.auth("alice", "keeper"))}
    assert after == before  # no task was created


def test_the_private_card_declares_bearer_auth_and_the_public_one_says_it_is_public(
    guarded: Guarded,
) -> None:
    private = httpx.get(f"{guarded.keeper}.well-known/agent-card.json").json()
    public = httpx.get(f"{guarded.door}.well-known/agent-card.json").json()
    scheme = private["securitySchemes"]["lamasAgentToken"]["httpAuthSecurityScheme"]
    assert scheme["scheme"] == "Bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert private["securityRequirements"] == [{"schemes": {"lamasAgentToken": {}}}]
    assert {} in public["securityRequirements"]  # anonymous callers welcome
    assert "lamasTaskCapability" in public["securitySchemes"]


def test_no_identity_reads_or_cancels_anothers_task(guarded: Guarded, keeper_rpc: Rpc) -> None:
    alice, mallory = guarded.auth("alice", "keeper"), guarded.auth("mallory", "keeper")
    made = keeper_rpc.call("SendMessage", signed_send(guarded, "alice", "secret of alice"), alice)
    task_id = made["result"]["task"]["id"]
    assert task_id in {t["id"] for t in tasks_of(keeper_rpc, alice)}
    seen = json.dumps(tasks_of(keeper_rpc, mallory))
    assert task_id not in seen
    assert "secret of alice" not in seen
    for method in ("GetTask", "CancelTask", "SubscribeToTask"):
        answer = keeper_rpc.call(method, {"id": task_id}, mallory)
        assert error_code(answer) == TASK_NOT_FOUND, (method, answer)
    # Continuing alice's task as mallory is refused too, and changes nothing.
    params = signed_send(guarded, "mallory", "hijack")
    params["message"]["taskId"] = task_id
    assert error_code(keeper_rpc.call("SendMessage", params, mallory)) == TASK_NOT_FOUND
    mine = keeper_rpc.call("GetTask", {"id": task_id, "historyLength": 10}, alice)
    assert "hijack" not in json.dumps(mine)


def test_an_envelope_must_come_from_its_senders_token(guarded: Guarded, keeper_rpc: Rpc) -> None:
    # mallory's token, alice's (validly signed) envelope: refused before any task exists.
    answer = keeper_rpc.call(
        "SendMessage", signed_send(guarded, "alice", "as alice"), guarded.auth("mallory", "keeper")
    )
    assert error_code(answer) == FORBIDDEN
    # A plain A2A message, even from a known agent, is not for a private agent.
    plain = {"message": text_message("plain")}
    answer = keeper_rpc.call("SendMessage", plain, guarded.auth("alice", "keeper"))
    assert error_code(answer) == FORBIDDEN


@pytest.mark.parametrize("attack", ["forged", "replayed", "tampered"])
def test_forged_replayed_and_tampered_envelopes_fail_their_task(
    guarded: Guarded, keeper_rpc: Rpc, attack: str
) -> None:
    alice = guarded.auth("alice", "keeper")
    params = signed_send(guarded, "alice", f"{attack} text")
    if attack == "forged":
        made = Envelope(sender="alice", recipient="keeper", message=Message.of_text("forged"))
        params = {
            "message": MessageToDict(envelope_to_a2a(sign_envelope(made, PrivateKey.generate())))
        }
    elif attack == "replayed":
        first = keeper_rpc.call("SendMessage", params, alice)
        assert first["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        params["message"]["messageId"] = "another-a2a-message"
    else:
        exact = json.loads(params["message"]["metadata"]["lamas.envelope"])
        exact["message"]["parts"][0]["text"] = "changed on the way"
        params["message"]["metadata"]["lamas.envelope"] = json.dumps(exact)
    answer = keeper_rpc.call("SendMessage", params, alice)
    status = answer["result"]["task"]["status"]
    assert status["state"] == "TASK_STATE_FAILED", answer
    assert attack in json.dumps(status).lower()


@pytest.mark.parametrize("flaw", ["stranger", "audience", "expired", "tampered", "alg-none"])
def test_forged_and_misused_tokens_are_refused(
    guarded: Guarded, keeper_rpc: Rpc, flaw: str
) -> None:
    alice_key = guarded.keys.agent_key("alice")
    if flaw == "stranger":
        token = mint(PrivateKey.generate(), "alice", "keeper")
    elif flaw == "audience":
        token = mint(alice_key, "alice", "door")
    elif flaw == "expired":
        token = mint(alice_key, "alice", "keeper", now=time.time() - 3600)
    elif flaw == "tampered":
        head, claims, signature = mint(alice_key, "alice", "keeper").split(".")
        raw = json.loads(base64.urlsafe_b64decode(claims + "=="))
        raw["iss"] = "mallory"
        forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
        token = f"{head}.{forged}.{signature}"
    else:
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        token = f"{header}.{mint(alice_key, 'alice', 'keeper').split('.')[1]}."
    answer = keeper_rpc.call("ListTasks", {}, {"Authorization": f"Bearer {token}"})
    assert error_code(answer) == UNAUTHENTICATED, answer
    assert "bearer token refused" in answer["error"]["message"]


# --- a public agent -----------------------------------------------------------------------


def test_on_a_public_agent_each_anonymous_caller_sees_only_its_own_tasks(door_rpc: Rpc) -> None:
    first = door_rpc.call("SendMessage", {"message": text_message("mine, private")})
    task = first["result"]["task"]
    capability = task["metadata"]["lamas.capability"]
    holder = {"X-Lamas-Capability": capability}
    other = {"X-Lamas-Capability": "B" * 43}
    assert task["id"] in {t["id"] for t in tasks_of(door_rpc, holder)}
    assert tasks_of(door_rpc, other) == []
    for method in ("GetTask", "CancelTask"):
        assert error_code(door_rpc.call(method, {"id": task["id"]}, other)) == TASK_NOT_FOUND
    # No capability at all: only a new task may be opened.
    assert error_code(door_rpc.call("ListTasks", {})) == UNAUTHENTICATED
    assert error_code(door_rpc.call("GetTask", {"id": task["id"]})) == UNAUTHENTICATED
    short = {"X-Lamas-Capability": "guessable"}
    assert error_code(door_rpc.call("ListTasks", {}, short)) == UNAUTHENTICATED
    got = door_rpc.call("GetTask", {"id": task["id"]}, holder)
    assert got["result"]["id"] == task["id"]


def test_an_anonymous_cancel_stops_only_the_callers_own_task(door_rpc: Rpc) -> None:
    mine = {"X-Lamas-Capability": "C" * 43}
    theirs = {"X-Lamas-Capability": "D" * 43}
    params = {"message": text_message("slow"), "configuration": {"returnImmediately": True}}
    task_id = door_rpc.call("SendMessage", params, theirs)["result"]["task"]["id"]
    assert error_code(door_rpc.call("CancelTask", {"id": task_id}, mine)) == TASK_NOT_FOUND
    assert door_rpc.call("GetTask", {"id": task_id}, theirs)["result"]["status"]["state"] in (
        "TASK_STATE_SUBMITTED",
        "TASK_STATE_WORKING",
    )
    canceled = door_rpc.call("CancelTask", {"id": task_id}, theirs)
    assert canceled["result"]["status"]["state"] == "TASK_STATE_CANCELED"


# --- bodies -------------------------------------------------------------------------------


def test_oversized_and_malformed_bodies_get_clean_errors(guarded: Guarded, door_rpc: Rpc) -> None:
    big = door_rpc.post(
        b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"x":"'
        + b"a" * 5_000_000
        + b'"}}'
    )
    assert big.status_code == 413
    assert error_code(big.json()) == INVALID_REQUEST
    assert "over 4,194,304 bytes" in big.json()["error"]["message"]
    for body, code in [
        (b"\xff\xfe not utf-8", PARSE_ERROR),
        (b"{not json", PARSE_ERROR),
        (b"[]", INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"NoSuchMethod","params":{}}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":7}}', -32602),
    ]:
        response = door_rpc.post(body)
        assert response.status_code < 500, (body, response.text)
        assert error_code(response.json()) == code, (body, response.text)
    assert httpx.get(f"{guarded.door}.well-known/agent-card.json").status_code == 200


def test_a_text_over_the_limit_is_refused_whole(door_rpc: Rpc) -> None:
    answer = door_rpc.call("SendMessage", {"message": text_message("x" * 1_100_000)})
    status = answer["result"]["task"]["status"]
    assert status["state"] == "TASK_STATE_FAILED"
    assert "TooLarge" in json.dumps(status)
    assert "1,048,576" in json.dumps(status)


def test_a_1_mb_text_is_screened_while_the_card_keeps_answering(
    guarded: Guarded, door_rpc: Rpc
) -> None:
    hostile = ("a@" * 250_000) + ("x" * 500_000)  # the old rule's worst case, 1 MB
    card_url = f"{guarded.door}.well-known/agent-card.json"
    with ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        sent = pool.submit(
            door_rpc.call,
            "SendMessage",
            {"message": text_message(hostile)},
            {"X-Lamas-Capability": "E" * 43},
        )
        latencies = []
        with httpx.Client(timeout=10) as http:
            while not sent.done():
                t0 = time.perf_counter()
                assert http.get(card_url).status_code == 200
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)
        answer = sent.result()
        took = time.perf_counter() - started
    assert answer["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", answer
    assert took < 10.0, took  # parsing, screening and echoing 1 MB over HTTP
    assert latencies
    assert max(latencies) < 1.0, latencies


# --- floods and growth --------------------------------------------------------------------


def test_an_anonymous_flood_is_bounded_and_does_not_starve_a_signed_caller(
    guarded: Guarded, door_rpc: Rpc
) -> None:
    holder = {"X-Lamas-Capability": "F" * 43}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: door_rpc.call("ListTasks", {}, holder), range(150)))
    codes = [error_code(a) for a in answers]
    assert codes.count(RATE_LIMITED) > 50  # burst 40, 20/s: most of 150 at once are refused
    assert set(codes) <= {None, RATE_LIMITED}
    limited = next(a for a in answers if error_code(a) == RATE_LIMITED)
    assert "retry after" in limited["error"]["message"]
    # alice has a bucket of her own (by key, not by address): she gets through at once.
    answer = door_rpc.call("ListTasks", {}, guarded.auth("alice", "door"))
    assert "result" in answer, answer


def test_tasks_and_memory_stay_bounded(guarded: Guarded, door_rpc: Rpc) -> None:
    holder = {"X-Lamas-Capability": "G" * 43}
    params = {"message": text_message("y" * 20_000)}

    def send(_: int) -> dict[str, Any]:
        for _ in range(50):
            answer = door_rpc.call("SendMessage", params, holder)
            if error_code(answer) != RATE_LIMITED:
                return answer
            time.sleep(0.1)
        raise AssertionError("always rate limited")

    send(0)
    before = guarded.cluster.rss_kib("door")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(300)))
    kept = tasks_of(door_rpc, holder)
    assert len(kept) <= DOOR_MAX_TASKS
    grown = guarded.cluster.rss_kib("door") - before
    assert grown < 60_000, f"the door grew by {grown} KiB over 300 tasks"


def test_a_restarted_node_still_answers_for_its_tasks_to_their_owner(guarded: Guarded) -> None:
    alice = guarded.auth("alice", "keeper")
    rpc = Rpc(guarded.keeper)
    made = rpc.call("SendMessage", signed_send(guarded, "alice", "kept across restarts"), alice)
    task_id = made["result"]["task"]["id"]
    rpc.close()
    old = guarded.keeper
    guarded.cluster.kill("keeper")
    guarded.cluster.start_agent("keeper", *keeper_args(guarded.base))
    guarded.cluster.wait_until(
        lambda: guarded.cluster.listed().get("keeper") and guarded.cluster.url("keeper") != old,
        "keeper back on a new port",
        90,
    )
    guarded.keeper = guarded.cluster.url("keeper")
    again = Rpc(guarded.keeper)
    try:
        got = again.call("GetTask", {"id": task_id}, guarded.auth("alice", "keeper"))
        assert got["result"]["status"]["state"] == "TASK_STATE_COMPLETED", got
        assert "kept across restarts" in json.dumps(got)
        other = again.call("GetTask", {"id": task_id}, guarded.auth("mallory", "keeper"))
        assert error_code(other) == TASK_NOT_FOUND
    finally:
        again.close()
