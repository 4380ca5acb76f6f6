"""Live changes (Recurr's Subscribers and Subscriptions writes): one customer at a time."""
