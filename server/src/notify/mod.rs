//! Account notifications: emails rendered from templates ([`templates`]),
//! queued in the outbox in the same transaction as what they announce, and
//! sent by [`outbox`] with retries; trial reminders come from a scheduled
//! job ([`trials`]) that queues each one once, whatever the restarts.

pub mod outbox;
pub mod templates;
pub mod trials;
