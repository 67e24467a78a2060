"""The Service API (`/v1`): one module per resource."""
