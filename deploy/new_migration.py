"""Developer tool: autogenerate a migration for one service from its models.

    python -m deploy.new_migration wallet "add something"

It compares the models with a scratch SQLite database migrated to head.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.db import migrate


def main(service: str, message: str) -> None:
    migrations = Path("services") / service / "migrations"
    (migrations / "versions").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path("shared/migrations_script.py.mako"), migrations / "script.py.mako")
    importlib.import_module(f"services.{service}.models")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        migrate(url, migrations)
        config = Config()
        config.set_main_option("script_location", str(migrations))
        config.set_main_option("sqlalchemy.url", url)
        script = command.revision(config, message=message, autogenerate=True)
    # Migrations use plain SQLAlchemy types, so they never depend on our Python code.
    for revision in script if isinstance(script, list) else [script]:
        if revision is not None:
            path = Path(revision.path)
            text = path.read_text().replace("shared.db.UTCDateTime(timezone=True)", "sa.DateTime(timezone=True)")
            path.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
