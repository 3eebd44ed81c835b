"""Just enough of IAM's policy evaluation to ask a template's policies who may do what.

Covers what these templates use: Allow statements, `AWS` principals (`*`, an account root, a
role ARN) and `Service` principals, and the condition operators StringEquals, ArnEquals,
ArnLike and ForAllValues:StringEquals. Values are resolved with `resolve` first (Fn::Join,
Ref of pseudo parameters and parameter defaults). Anything else raises, so a policy this
evaluator does not understand fails the test instead of passing it."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


def resolve(
    value: Any, *, account: str, region: str, parameters: dict[str, str] | None = None
) -> Any:
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": region}
    pseudo.update(parameters or {})
    if isinstance(value, list):
        return [resolve(v, account=account, region=region, parameters=parameters) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(
            str(resolve(p, account=account, region=region, parameters=parameters)) for p in parts
        )
    if set(value) == {"Ref"}:
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    if set(value) == {"Fn::GetAtt"}:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return {
        k: resolve(v, account=account, region=region, parameters=parameters)
        for k, v in value.items()
    }


@dataclass
class Caller:
    """Who makes the request, and the request's context keys."""

    arn: str = ""
    account: str = ""
    service: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def keys(self) -> dict[str, Any]:
        return {"aws:PrincipalArn": self.arn, "aws:PrincipalAccount": self.account, **self.context}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return caller.service is None
    if "Service" in principal:
        return caller.service in _listed(principal["Service"])
    for entry in _listed(principal["AWS"]):
        if entry == "*":
            return True
        if entry.endswith(":root") or entry.isdigit():
            # An account principal: any principal of that account (its own policies decide).
            account = entry.split(":")[4] if ":" in entry else entry
            if caller.account == account:
                return True
        elif entry == caller.arn:
            return True
    return False


def _condition_holds(operator: str, key: str, expected: Any, keys: dict[str, Any]) -> bool:
    wanted = _listed(expected)
    if operator == "ForAllValues:StringEquals":
        return all(value in wanted for value in _listed(keys.get(key, [])))
    if key not in keys:
        return False
    value = keys[key]
    if operator in ("StringEquals", "ArnEquals"):
        return value in wanted
    if operator == "ArnLike":
        return any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted)
    raise NotImplementedError(f"condition operator {operator}")


def allows(statements: list[dict[str, Any]], action: str, caller: Caller) -> bool:
    for statement in statements:
        if statement.get("Effect") != "Allow":
            raise NotImplementedError("only Allow statements are evaluated")
        if action not in _listed(statement["Action"]):
            continue
        if not _principal_matches(statement["Principal"], caller):
            continue
        conditions = statement.get("Condition", {})
        if all(
            _condition_holds(operator, key, expected, caller.keys())
            for operator, pairs in conditions.items()
            for key, expected in pairs.items()
        ):
            return True
    return False
