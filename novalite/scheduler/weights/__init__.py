"""Host weighers: each scores hosts 0..1; multipliers combine them."""
