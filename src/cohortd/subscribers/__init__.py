"""Subscribers and subscriptions (Recurr): customers read from the data plane."""
