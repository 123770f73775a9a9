"""Chat adapters: one module per platform behind :class:`botsvc.deliver.adapter.Adapter`."""
