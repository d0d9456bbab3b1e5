"""Host filters: each removes hosts that cannot take a request, and says why."""
