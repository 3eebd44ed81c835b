"""PerThreadEnvironments: one execution environment per poller thread, built on its first batch,
as Lambda gives concurrent invocations separate environments."""

import threading
from concurrent.futures import ThreadPoolExecutor

from spot_cli.local.ingest import PerThreadEnvironments


def test_each_thread_invokes_its_own_environment_and_keeps_it():
    built = []

    def build():
        environment = {"thread": threading.get_ident(), "batches": 0}
        built.append(environment)

        def handler(event, context):
            environment["batches"] += 1
            return {"batchItemFailures": [], "thread": environment["thread"]}

        return handler

    handler = PerThreadEnvironments(build)
    barrier = threading.Barrier(3)

    def invoke_twice(_):
        barrier.wait()  # three threads at once, as three regions' pollers
        first = handler({"Records": []}, None)
        second = handler({"Records": []}, None)
        assert first["thread"] == second["thread"] == threading.get_ident()

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(invoke_twice, range(3)))
    assert handler.started == len(built) == 3
    assert sorted(e["batches"] for e in built) == [2, 2, 2]
    assert len({e["thread"] for e in built}) == 3
