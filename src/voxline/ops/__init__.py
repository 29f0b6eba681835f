"""What an operator watches a Voxline process by: metrics, event-loop lag, readiness."""
