"""Hub and spoke settings: one line naming the key and the expected form, and the sets of keys
that belong together."""

from __future__ import annotations

import pytest

from spot_insights.settings import parse_settings
from tests.org.synth import ORG_CONTEXT
from tests.stack.test_settings import _app_py, refused_in_one_line


def test_values_from_json_and_from_the_command_line_agree() -> None:
    from_cli = parse_settings(
        {
            "organizationId": "o-a1b2c3d4e5",
            "sourceAccounts": "111122223333, 444455556666",
            "hubAccount": "123456789012",
            "hubRegion": "us-east-1",
            "spokeOrganizationalUnits": '["ou-ab12-cd34ef56", "r-ab12"]',
            "spokeRegions": "eu-west-1,us-east-1",
        }
    )
    assert from_cli == parse_settings(ORG_CONTEXT)
    assert from_cli.source_accounts == ("111122223333", "444455556666")
    assert from_cli.spoke_regions == ("eu-west-1", "us-east-1")
    assert from_cli.stack_set_call_as == "SELF"


@pytest.mark.parametrize(
    ("context", "key", "expected", "got"),
    [
        (
            {"organizationId": "o-123"},
            "organizationId",
            "an organization id such as o-a1b2c3d4e5",
            "'o-123'",
        ),
        ({"organizationId": "r-ab12"}, "organizationId", "an organization id", "'r-ab12'"),
        (
            {"sourceAccounts": "111122223333,12345"},
            "sourceAccounts",
            "a list of 12-digit account ids such as 111122223333 or a comma-separated string",
            "'12345'",
        ),
        (
            {"sourceAccounts": [111122223333]},
            "sourceAccounts",
            "12-digit account ids",
            "111122223333",
        ),
        ({"hubAccount": "1234567890123"}, "hubAccount", "a 12-digit account id", "'1234567890123'"),
        (
            {"hubAccount": "123456789012", "hubRegion": "us-east"},
            "hubRegion",
            "a region name such as us-east-1",
            "'us-east'",
        ),
        (
            {**ORG_CONTEXT, "spokeOrganizationalUnits": ["ou-xyz"]},
            "spokeOrganizationalUnits",
            "organizational unit ids (ou-ab12-cd34ef56) or the root id (r-ab12)",
            "'ou-xyz'",
        ),
        (
            {**ORG_CONTEXT, "spokeRegions": "eu-west-1,Frankfurt"},
            "spokeRegions",
            "region names",
            "'Frankfurt'",
        ),
        (
            {**ORG_CONTEXT, "stackSetCallAs": "ADMIN"},
            "stackSetCallAs",
            "SELF or DELEGATED_ADMIN",
            "'ADMIN'",
        ),
        # Keys that belong together.
        (
            {"hubAccount": "123456789012"},
            "hubRegion",
            "a value when hubAccount or hubRegion is set",
            "'123456789012'",
        ),
        (
            {"hubRegion": "us-east-1"},
            "hubAccount",
            "a value when hubAccount or hubRegion is set",
            "'us-east-1'",
        ),
        (
            {
                "hubAccount": "123456789012",
                "hubRegion": "us-east-1",
                "spokeOrganizationalUnits": "r-ab12",
            },
            "spokeRegions",
            "at least one entry when spokeOrganizationalUnits is set",
            "[]",
        ),
        (
            {"hubAccount": "123456789012", "hubRegion": "us-east-1", "spokeRegions": "us-east-1"},
            "spokeOrganizationalUnits",
            "at least one entry when spokeRegions is set",
            "[]",
        ),
        (
            {"spokeOrganizationalUnits": "r-ab12", "spokeRegions": "us-east-1"},
            "hubAccount",
            "the hub's account when spokeRegions is set",
            "None",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_form(
    context: dict, key: str, expected: str, got: str
) -> None:
    message = refused_in_one_line(context, key, expected)
    assert message.endswith(f", got {got}")


def test_app_py_refuses_a_bad_organization_id_in_one_line(tmp_path) -> None:
    result = _app_py({"organizationId": "o-XYZ"}, CDK_OUTDIR=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "spot-insights: context key 'organizationId': expected an organization id such as "
        "o-a1b2c3d4e5, got 'o-XYZ'"
    ]
    assert not any(tmp_path.iterdir())
