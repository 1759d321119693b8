"""The experience store: every step's record, in the same database as the ledger.

Records are written once; only a step's credit (known when its task is settled) and the
user's feedback on the task are added later. Reads filter on the indexed columns and
return the records exactly as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lamas.errors import InputError
from lamas.protocol.experience import ExperienceRecord, StepOutcome
from lamas.store.experience_tables import experience_records


class ExperienceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, record: ExperienceRecord) -> None:
        self.add_many([record])

    def add_many(self, records: Iterable[ExperienceRecord]) -> None:
        rows = [_row(r) for r in records]
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(insert(experience_records), rows)

    def records(
        self,
        *,
        task_id: str | None = None,
        agent: str | None = None,
        capability: str | None = None,
        ok: bool | None = None,
        since: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ExperienceRecord]:
        """Records matching every filter given, oldest first (or newest first)."""
        table = experience_records
        query = select(table.c.record, table.c.credit, table.c.feedback)
        for column, value in (
            (table.c.task_id, task_id),
            (table.c.agent, agent),
            (table.c.capability, capability),
            (table.c.ok, ok),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(table.c.at >= since)
        order = (table.c.at.desc(), table.c.id) if newest_first else (table.c.at, table.c.id)
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [_record(row.record, row.credit, row.feedback) for row in rows]

    def set_credit(self, task_id: str, credit: Mapping[str, Decimal]) -> int:
        """Give each agent's credit for `task_id` to its steps, split evenly; returns how
        many records were updated."""
        table = experience_records
        updated = 0
        with self.engine.begin() as connection:
            for agent, amount in credit.items():
                ids = (
                    connection.execute(
                        select(table.c.id).where(table.c.task_id == task_id, table.c.agent == agent)
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    continue
                each = (Decimal(amount) / len(ids)).quantize(Decimal("0.0001"))
                result = connection.execute(
                    update(table).where(table.c.id.in_(ids)).values(credit=str(each))
                )
                updated += result.rowcount
        return updated

    def set_feedback(self, task_id: str, score: float, note: str | None = None) -> int:
        """Record the user's verdict on a task (-1 bad .. 1 good) on each of its steps."""
        if not -1.0 <= score <= 1.0:
            raise InputError(f"feedback must be between -1 and 1, got {score}")
        table = experience_records
        with self.engine.begin() as connection:
            ids = (
                connection.execute(select(table.c.id).where(table.c.task_id == task_id))
                .scalars()
                .all()
            )
            if not ids:
                raise InputError(
                    f"no experience recorded for task {task_id!r}; "
                    "see `lamas experience show` for task ids"
                )
            for record_id in ids:
                raw = connection.execute(
                    select(table.c.record).where(table.c.id == record_id)
                ).scalar_one()
                data = json.loads(raw)
                data["outcome"]["feedback"] = score
                data["outcome"]["feedback_note"] = note
                connection.execute(
                    update(table)
                    .where(table.c.id == record_id)
                    .values(feedback=score, record=json.dumps(data, sort_keys=True))
                )
        return len(ids)

    def count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(experience_records)
                ).scalar_one()
            )


def _row(record: ExperienceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "task_id": record.task_id,
        "step_id": record.step_id,
        "capability": record.capability,
        "agent": record.agent,
        "kind": record.kind,
        "strategy": record.strategy.key,
        "ok": record.outcome.ok,
        "at": record.at,
        "credit": None if record.credit is None else str(record.credit),
        "feedback": record.outcome.feedback,
        "record": record.model_dump_json(),
    }


def _record(raw: str, credit: str | None, feedback: float | None) -> ExperienceRecord:
    record = ExperienceRecord.model_validate_json(raw)
    changes: dict[str, Any] = {}
    if credit is not None:
        changes["credit"] = Decimal(credit)
    if feedback is not None and record.outcome.feedback != feedback:
        changes["outcome"] = StepOutcome(**{**record.outcome.model_dump(), "feedback": feedback})
    return record.model_copy(update=changes) if changes else record
