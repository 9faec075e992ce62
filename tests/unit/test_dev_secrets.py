"""A service refuses secrets anyone can know or guess, naming them, unless ALLOW_DEV_SECRETS."""

from __future__ import annotations

import pytest

from shared.config import DEV_SECRETS, PublicSecretsError, Settings

DEPLOYED = {"AMQP_URL": "amqp://guest:guest@rabbitmq:5672/%2F",
            **{f"{name}_DATABASE_URL": f"postgresql://postgres@db/{name.lower()}"
               for name in ("ORDER", "PAYMENT", "WALLET", "NOTIFY")}}
REAL = {name: f"a-real-{name.lower()}-9f2c4e1b7a-0d83b6a5c2e4f1" for name in DEV_SECRETS}


def test_a_deployed_service_with_the_development_secrets_is_refused_naming_them() -> None:
    with pytest.raises(PublicSecretsError) as refused:
        Settings.from_env(DEPLOYED).refuse_public_secrets()
    assert refused.value.names == ["OPERATOR_TOKEN", "WEBHOOK_SECRET", "JWT_SECRET", "PLATFORM_TOKEN"]
    assert "ALLOW_DEV_SECRETS=true" in str(refused.value)
    assert not any(value in str(refused.value) for value in DEV_SECRETS.values())


def test_a_placeholder_or_an_empty_secret_is_as_public_as_the_default() -> None:
    env = {**DEPLOYED, **REAL, "OPERATOR_TOKEN": "change-me-operator", "WEBHOOK_SECRET": "", "JWT_SECRET": "  "}
    with pytest.raises(PublicSecretsError) as refused:
        Settings.from_env(env).refuse_public_secrets()
    assert refused.value.names == ["OPERATOR_TOKEN", "WEBHOOK_SECRET", "JWT_SECRET"]
    assert "OPERATOR_TOKEN (a change-me placeholder)" in str(refused.value)
    assert "WEBHOOK_SECRET (empty)" in str(refused.value)
    assert REAL["PLATFORM_TOKEN"] not in str(refused.value)


def test_one_development_secret_among_real_ones_is_enough_to_refuse() -> None:
    env = {**DEPLOYED, **REAL, "JWT_SECRET": DEV_SECRETS["JWT_SECRET"]}
    with pytest.raises(PublicSecretsError) as refused:
        Settings.from_env(env).refuse_public_secrets()
    assert refused.value.names == ["JWT_SECRET"]


@pytest.mark.parametrize("backend", [{"AMQP_URL": "amqp://rabbitmq"},
                                     {"ORDER_DATABASE_URL": "postgresql://postgres@db/order"}])
def test_either_a_broker_or_a_database_of_its_own_makes_a_deployment(backend: dict[str, str]) -> None:
    with pytest.raises(PublicSecretsError):
        Settings.from_env(backend).refuse_public_secrets()


def test_real_secrets_start_a_deployed_service() -> None:
    settings = Settings.from_env({**DEPLOYED, **REAL})
    settings.refuse_public_secrets()
    assert settings.dev_secrets_in_use() == {}


def test_allow_dev_secrets_starts_a_deployed_service_with_them() -> None:
    settings = Settings.from_env({**DEPLOYED, "ALLOW_DEV_SECRETS": "true"})
    settings.refuse_public_secrets()
    assert list(settings.dev_secrets_in_use()) == list(DEV_SECRETS)


def test_even_the_embedded_default_refuses_them_without_the_flag() -> None:
    """A gunicorn started without its environment would serve SQLite on every interface:
    only `make run`, which sets ALLOW_DEV_SECRETS, starts with the public secrets."""
    settings = Settings.from_env({})
    assert settings.embedded and not settings.allow_dev_secrets
    with pytest.raises(PublicSecretsError):
        settings.refuse_public_secrets()
    Settings.from_env({"ALLOW_DEV_SECRETS": "true"}).refuse_public_secrets()


def test_a_short_secret_is_refused_as_guessable() -> None:
    env = {**DEPLOYED, **REAL, "JWT_SECRET": "s3cret-but-only-29-characters"}
    with pytest.raises(PublicSecretsError) as refused:
        Settings.from_env(env).refuse_public_secrets()
    assert "JWT_SECRET (shorter than 32 characters)" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_named_operators_replace_the_single_token_and_each_token_is_checked() -> None:
    alice, bob = "alice-" + "a" * 40, "bob-" + "b" * 40
    named = Settings.from_env({**DEPLOYED, **REAL, "OPERATOR_TOKEN": "",
                               "OPERATOR_TOKENS": f" alice:{alice}, bob.s:{bob} "})
    assert named.operators() == {"alice": alice, "bob.s": bob}
    named.refuse_public_secrets()
    only_named = {k: v for k, v in REAL.items() if k != "OPERATOR_TOKEN"}
    assert Settings.from_env({**DEPLOYED, **only_named, "OPERATOR_TOKENS": f"alice:{alice}"}).operators() == {
        "alice": alice}, "set alone, the named ones are the only operators"
    both = Settings.from_env({**DEPLOYED, **REAL, "OPERATOR_TOKENS": f"alice:{alice}"})
    assert both.operators() == {"alice": alice, "operator": REAL["OPERATOR_TOKEN"]}
    with pytest.raises(PublicSecretsError) as refused:
        Settings.from_env({**DEPLOYED, **only_named, "OPERATOR_TOKENS": f"alice:{alice},bob:short"}
                          ).refuse_public_secrets()
    assert refused.value.names == ["OPERATOR_TOKENS[bob]"] and "short" not in str(refused.value).split("(")[0]


@pytest.mark.parametrize("value", ["alice", "alice:", "Alice:x" + "y" * 40, "a b:" + "y" * 40,
                                   f"alice:{'y' * 40},alice:{'z' * 40}"])
def test_operator_tokens_that_do_not_read_as_name_token_pairs_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="OPERATOR_TOKENS"):
        Settings.from_env({"OPERATOR_TOKENS": value})
