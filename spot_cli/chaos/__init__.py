"""Disruption runs: a storm through the local pipeline while the search node is killed or
paused, the AWS endpoint restarts, or the handler process dies mid-batch; then a count of what
arrived against the storm's ground truth. `python -m spot_cli.chaos` (`make chaos`)."""
