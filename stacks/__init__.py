"""The reference app's stacks, assembled from `constructs_lib`."""
