"""With an organisation there is one queue, the hub's: the storm's queue-level poison (bodies
SQS would hold from a misconfigured producer) must be sent there, whatever region its host
instance is in; bus-level poison still starts on its own region's bus and is forwarded."""

from spot_cli.local.pipeline import _poison_bodies_to
from spot_cli.local.storm import PoisonInput, Storm, StormSettings


def test_queue_level_poison_goes_to_the_hub_region_and_bus_level_stays():
    event = {"id": "e1", "detail": {}}
    storm = Storm(
        events=(event,),
        poison=(
            PoisonInput("not-json", "eu-west-1", body="{"),
            PoisonInput("missing-instance-id", "eu-west-1", event=dict(event)),
        ),
        ghost_instance_ids=frozenset(),
        settings=StormSettings(),
    )
    moved = _poison_bodies_to(storm, "us-east-1")
    assert [p.region for p in moved.poison] == ["us-east-1", "eu-west-1"]
    assert moved.by_id == {"e1": event}
