"""Chat adapters: one module per platform behind :class:`adapters.base.Adapter`."""
