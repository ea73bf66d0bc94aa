"""Jobs: the state machine, the service that creates and manages jobs, the runner, executors."""
