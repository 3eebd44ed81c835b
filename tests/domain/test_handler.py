"""The on_event handler's own paths (no OpenSearch needed): Delete touches nothing, bad input
becomes a one-line reason."""

from __future__ import annotations

import pytest

from lambda_src.provisioning import handler
from lambda_src.provisioning.errors import ProvisioningError
from tests.support.lambda_context import fake_context


def test_delete_returns_the_physical_id_and_calls_nothing() -> None:
    # No endpoint, no secret: any call out would fail, so success proves none was made.
    event = {
        "RequestType": "Delete",
        "PhysicalResourceId": "search-setup:spot-interruptions",
        "ResourceProperties": {},
    }
    assert handler.on_event(event, fake_context()) == {
        "PhysicalResourceId": "search-setup:spot-interruptions"
    }


def test_invalid_properties_fail_before_any_call() -> None:
    event = {
        "RequestType": "Create",
        "ResourceProperties": {"Endpoint": "http://plain", "MasterSecretArn": "arn:x"},
    }
    with pytest.raises(ProvisioningError, match="Endpoint must be an https:// URL"):
        handler.on_event(event, fake_context())


def test_unknown_request_type() -> None:
    with pytest.raises(ProvisioningError, match="unknown RequestType 'Replace'"):
        handler.on_event({"RequestType": "Replace"}, fake_context())


def test_unexpected_errors_become_one_line_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> dict[str, str]:
        raise ValueError("multi\nline")

    monkeypatch.setattr(handler, "provision", boom)
    event = {
        "RequestType": "Update",
        "PhysicalResourceId": "x",
        "ResourceProperties": {"Endpoint": "https://e", "MasterSecretArn": "arn:x"},
    }
    with pytest.raises(ProvisioningError) as info:
        handler.on_event(event, fake_context())
    assert str(info.value) == "unexpected ValueError: multi line"
