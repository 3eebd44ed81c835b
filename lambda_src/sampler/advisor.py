"""The Spot Instance Advisor's interruption-frequency bucket per region and instance type.

The advisor's public data file is JSON: `ranges` (one per bucket: `index`, `label` such as
"<5%", "5-10%" or ">20%", `max`) and `spot_advisor` -> region -> OS -> instance type ->
{"r": range index, "s": savings in percent}. The sampler fetches it once a day (an HTTP GET
with a timeout and an 8 MB cap: the file's size is not ours to control) and keeps the entries
of the regions and instance types in use. Fetching or parsing fails as `AdvisorError`, which the
market run records and survives; an entry naming an unknown range is skipped and reported."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lambda_src.contract import ADVISOR_RECORD

OS = "Linux"
MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0
# "<5%", "5-10%", ">20%" (the advisor's labels; spaces and an en dash tolerated).
_LABEL = re.compile(
    r"\s*(?:<\s*(?P<below>\d+(?:\.\d+)?)|(?P<low>\d+(?:\.\d+)?)\s*[-\u2013]\s*(?P<high>\d+(?:\.\d+)?)"
    r"|>\s*(?P<above>\d+(?:\.\d+)?))\s*%\s*"
)


class AdvisorError(RuntimeError):
    """The advisor's file could not be fetched or read as the advisor's data."""


@dataclass(frozen=True)
class Bucket:
    index: int
    label: str
    lower_percent: float
    # None for the top bucket (">20%"): nothing exceeds it.
    upper_percent: float | None


@dataclass(frozen=True)
class Advice:
    region: str
    instance_type: str
    bucket: Bucket
    savings_percent: int | None


@dataclass(frozen=True)
class Parsed:
    advice: list[Advice]
    # Entries skipped, e.g. "us-east-1 m5.large: unknown range index 9".
    problems: list[str]


def fetch(
    url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_bytes: int = MAX_BYTES
) -> bytes:
    """GET `url`; AdvisorError on any HTTP error, timeout, refusal or a body over `max_bytes`."""
    if not url.startswith(("https://", "http://")):
        raise AdvisorError(f"advisor URL {url!r} is not http(s)")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise AdvisorError(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdvisorError(f"GET {url}: {reason}") from exc
    if len(body) > max_bytes:
        raise AdvisorError(f"GET {url}: body over {max_bytes} bytes")
    return body


def bucket_of(index: int, label: str) -> Bucket:
    """The bucket's bounds from its label (what the advisor shows); ValueError if unreadable."""
    match = _LABEL.fullmatch(label)
    if not match:
        raise ValueError(f"range label {label!r} is not '<N%', 'N-M%' or '>N%'")
    if match["below"]:
        return Bucket(index, label, 0.0, float(match["below"]))
    if match["above"]:
        return Bucket(index, label, float(match["above"]), None)
    return Bucket(index, label, float(match["low"]), float(match["high"]))


def parse(raw: bytes, wanted: Iterable[tuple[str, str]], os_name: str = OS) -> Parsed:
    """The advice for each wanted (region, instance type) the file has; AdvisorError when the
    file is not the advisor's JSON at all."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdvisorError(f"advisor data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AdvisorError("advisor data is not a JSON object")
    ranges, regions = data.get("ranges"), data.get("spot_advisor")
    if not isinstance(ranges, list) or not isinstance(regions, dict):
        raise AdvisorError("advisor data lacks 'ranges' (a list) or 'spot_advisor' (an object)")
    buckets: dict[int, Bucket] = {}
    problems: list[str] = []
    for position, entry in enumerate(ranges):
        try:
            index = int(entry.get("index", position))
            buckets[index] = bucket_of(index, str(entry["label"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"range {position}: {exc}")
    advice = []
    for region, instance_type in sorted(set(wanted)):
        entry = ((regions.get(region) or {}).get(os_name) or {}).get(instance_type)
        if not isinstance(entry, dict):
            continue  # the advisor has no figure for it (a new or rare type)
        bucket = buckets.get(entry.get("r")) if isinstance(entry.get("r"), int) else None
        if bucket is None:
            problems.append(f"{region} {instance_type}: unknown range index {entry.get('r')!r}")
            continue
        savings = entry.get("s")
        advice.append(
            Advice(region, instance_type, bucket, savings if isinstance(savings, int) else None)
        )
    return Parsed(advice, problems)


def advisor_documents(
    advice: Iterable[Advice], day: date, sampled_at: datetime, source: str
) -> list[dict[str, Any]]:
    """One document per region, instance type and day (the id), so a rerun overwrites."""
    at = sampled_at.isoformat().replace("+00:00", "Z")
    documents = []
    for item in advice:
        key = "|".join((ADVISOR_RECORD, day.isoformat(), item.region, item.instance_type))
        doc = {
            "market_id": hashlib.sha256(key.encode()).hexdigest(),
            "record_type": ADVISOR_RECORD,
            "day": day.isoformat(),
            "sampled_at": at,
            "region": item.region,
            "instance_type": item.instance_type,
            "operating_system": OS,
            "advisor_range_index": item.bucket.index,
            "advisor_bucket": item.bucket.label,
            "advisor_lower_percent": item.bucket.lower_percent,
            "advisor_upper_percent": item.bucket.upper_percent,
            "advisor_savings_percent": item.savings_percent,
            "advisor_source": source,
        }
        documents.append({k: v for k, v in doc.items() if v is not None})
    return documents
