"""docs/examples/reuse_stack.py, the construct-reuse example docs/domain.md and the README show,
is a working stack: it synthesizes with cdk.json's flags, passes cdk-nag with no finding, and
connects its writer exactly once, in the one way."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from tests.support.cdk_app import iam_statements, synth_app

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "reuse_stack.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reuse_stack", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> tuple[cdk.Stack, Template]:
    app = synth_app()
    stack = _example().TeamAnalyticsStack(app, "TeamSpotAnalytics")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    app.synth()  # an unsuppressed nag error would fail here already
    return stack, Template.from_stack(stack)


def test_example_has_no_cdk_nag_finding(example: tuple[cdk.Stack, Template]) -> None:
    stack, _ = example
    annotations = Annotations.from_stack(stack)
    findings = [
        f"{m.id}: {m.entry.data}"
        for finder in (annotations.find_error, annotations.find_warning)
        for m in finder("*", Match.string_like_regexp(".*"))
    ]
    assert findings == []


def test_example_connects_its_writer_in_the_one_way(example: tuple[cdk.Stack, Template]) -> None:
    _, template = example
    [ingest] = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "lambda_src.ingest.handler.handler"}}
    ).values()
    role = ingest["Properties"]["Role"]["Fn::GetAtt"][0]
    [(setup_id, setup)] = template.find_resources("Custom::SpotInsightsSearchSetup").items()
    assert setup["Properties"]["WriterBackendRoles"] == [{"Fn::GetAtt": [role, "Arn"]}]
    assert setup["Properties"]["IndexPrefix"] == "team-spot"
    assert ingest["Properties"]["Environment"]["Variables"]["INDEX_ALIAS"] == "team-spot-write"
    [mapping] = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    assert setup_id in mapping["DependsOn"]
    grants = iam_statements(template, "es:")
    assert [g["Action"] for g in grants] == [["es:ESHttpPost", "es:ESHttpPut"]]
    assert json.dumps(grants[0]["Resource"]).endswith('/team-spot-*"]]}')
