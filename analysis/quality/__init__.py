"""Quality: task types of the requests, scorers of the answers, statistics and verdicts."""
