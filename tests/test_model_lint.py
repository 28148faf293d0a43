"""A model written as the generated models.py writes its own, with SQLAlchemy's class-level
options (`__table_args__`, `__mapper_args__`) as dicts, passes the app's ruff and mypy --strict
without a `noqa`.

Ruff's RUF012 asks for `ClassVar` on a dict assigned in a class body, and mypy rejects `ClassVar`
(and `Final`) on these two, which DeclarativeBase declares as instance attributes; the app's
pyproject.toml exempts its models module from RUF012.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_suite import installed_copy
from conftest import Renderer

MODELS = Path("src/task_tracker/models.py")
# A dict of table options, a tuple of constraints ending in one, and mapper options.
NEW_MODELS = """

class Label(Base):
    __tablename__ = "labels"
    __table_args__ = {"comment": "a name tasks can be filtered by"}
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class TaskLabel(Base):
    __tablename__ = "task_labels"
    __table_args__ = (UniqueConstraint("task_id", "label_id"), {"comment": "labels of a task"})
    __mapper_args__ = {"eager_defaults": True, "confirm_deleted_rows": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"))
"""


@pytest.mark.slow
def test_models_with_dict_options_pass_ruff_and_mypy(render: Renderer, tmp_path: Path) -> None:
    project = tmp_path / "app"
    run = installed_copy(render.project(), project)
    models = project / MODELS
    models.write_text(models.read_text(encoding="utf-8") + NEW_MODELS, encoding="utf-8")

    run("uv", "run", "--no-sync", "ruff", "check", ".")
    run("uv", "run", "--no-sync", "ruff", "format", "--check", ".")
    run("uv", "run", "--no-sync", "mypy")
