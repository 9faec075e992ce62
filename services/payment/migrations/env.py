from services.payment.models import Base
from services.payment.sandbox import models as _sandbox_models  # noqa: F401 - sandbox_* tables
from shared.migrations_env import run_migrations

run_migrations(Base.metadata, "payment")
