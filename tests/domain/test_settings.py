"""CloudFormation properties arrive as strings; bad ones fail with the property's name."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.settings import IsmMode, ProvisioningSettings

BASE = {"Endpoint": "https://vpc-x.us-east-1.es.amazonaws.com/", "MasterSecretArn": "arn:s"}


def test_defaults_and_string_parsing() -> None:
    s = ProvisioningSettings.from_properties(
        {**BASE, "Replicas": "0", "RetentionDays": "30", "ImportSavedObjects": "false"}
    )
    assert s.endpoint == "https://vpc-x.us-east-1.es.amazonaws.com"
    assert s.dashboards_url == "https://vpc-x.us-east-1.es.amazonaws.com/_dashboards"
    assert (s.index_prefix, s.write_alias, s.first_index) == (
        "spot-interruptions",
        "spot-interruptions-write",
        "spot-interruptions-000001",
    )
    assert (s.replicas, s.retention_days, s.import_saved_objects) == (0, 30, False)
    assert s.ism_mode is IsmMode.REQUIRED
    assert ProvisioningSettings.from_properties(BASE).retention_days == 365


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"Endpoint": "http://plain"}, "Endpoint must be an https:// URL"),
        ({"MasterSecretArn": ""}, "MasterSecretArn is required"),
        ({"IndexPrefix": "Spot"}, "IndexPrefix 'Spot' is not 1-100 characters of a-z"),
        ({"IndexPrefix": "-spot"}, "IndexPrefix '-spot' is not"),
        # The contract's rule matches the whole value: `$` alone let a trailing newline pass.
        ({"IndexPrefix": "spot\n"}, r"IndexPrefix 'spot\\n' is not"),
        ({"RetentionDays": "0"}, "RetentionDays must be >= 1"),
        ({"Replicas": "one"}, "Replicas must be an integer"),
        ({"RolloverAge": "30"}, "RolloverAge must be like"),
        ({"RolloverSize": "20tb"}, "RolloverSize must be like"),
        ({"WriterBackendRoles": "arn:aws:iam::1:role/x"}, "WriterBackendRoles must be a list"),
        ({"ReaderUserSecretArns": [""]}, "must not contain empty strings"),
        ({"IsmMode": "off"}, "IsmMode must be one of required, skip-if-unavailable"),
        ({"ImportSavedObjects": "yes"}, "ImportSavedObjects must be true or false"),
    ],
)
def test_bad_properties(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        ProvisioningSettings.from_properties({**BASE, **override})
