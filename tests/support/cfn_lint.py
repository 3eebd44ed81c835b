"""cfn-lint as the tests run it: every error (E) and warning (W) counts, except two patterns that
are right by design here. They are listed in this file, not in the shipped template.

- W3005 on a Lambda function's `DependsOn` of the very role its `Role` property references:
  aws-cdk-lib adds that edge to every function (ours, the Provider framework's, the
  AwsCustomResource singleton, the VPC default-security-group handler) and it cannot be removed
  from outside; it is redundant, not wrong.
- W3010 on a subnet's `AvailabilityZone` in an environment-bound template (`production`): the
  AZ names come from the CDK CLI's lookup in that account and region on purpose (three real
  AZs); such a template is for that account and region only.
"""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import lint_all


def _is_function_role_edge(template: dict[str, Any], path: list[Any]) -> bool:
    if len(path) != 4 or path[0] != "Resources" or path[2] != "DependsOn":
        return False
    resource = template["Resources"][path[1]]
    if resource["Type"] != "AWS::Lambda::Function":
        return False
    depends_on = resource["DependsOn"]
    dependency = depends_on[path[3]] if isinstance(depends_on, list) else depends_on
    role = resource["Properties"].get("Role", {})
    return isinstance(role, dict) and role.get("Fn::GetAtt", [None])[0] == dependency


def _is_looked_up_subnet_zone(template: dict[str, Any], path: list[Any]) -> bool:
    return (
        len(path) == 4
        and path[0] == "Resources"
        and template["Resources"][path[1]]["Type"] == "AWS::EC2::Subnet"
        and path[2:] == ["Properties", "AvailabilityZone"]
    )


_BY_DESIGN = {"W3005": _is_function_role_edge, "W3010": _is_looked_up_subnet_zone}


def lint_findings(template: dict[str, Any]) -> list[str]:
    """cfn-lint errors (E) and warnings (W), minus the by-design patterns above; informational
    (I) findings are advice only."""
    findings = []
    for match in lint_all(json.dumps(template)):
        rule = match.rule.id
        if rule[0] not in "EW":
            continue
        known = _BY_DESIGN.get(rule)
        if known is not None and known(template, list(match.path)):
            continue
        findings.append(f"{rule} {match.path}: {match.message}")
    return findings
