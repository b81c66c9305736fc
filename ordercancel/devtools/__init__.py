"""Development tools: local stacks, the demo, benchmarks and drills. Never on the request path."""
