"""The analytics engine: pure functions over Ibis expressions. No web, no ORM."""
