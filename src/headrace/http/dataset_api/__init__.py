"""The Knowledge API (`/v1/datasets…`, dataset keys): one module per resource."""
