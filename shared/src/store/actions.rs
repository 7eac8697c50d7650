//! Actions as the operations page sees them: which are paused (CloudCrowd's blacklist) and how
//! many of each one's units wait, and for how long.

use serde::Serialize;

use crate::status::UnitState;

/// A paused action: its units wait in the outbox, and those already in its queue are taken
/// back (the dispatcher's `paused` loop), until it is resumed. CloudCrowd's blacklist record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PausedAction {
    pub id: i64,
    pub action: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// An action's incomplete units: those live nodes run, and the others, waiting in the outbox
/// or in its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub action: String,
    pub running: i64,
    pub waiting: i64,
    /// Seconds since the longest-waiting of them last became pending.
    pub oldest_waiting_seconds: Option<f64>,
}

/// What became of a unit the dispatcher took from a paused action's queue, and so what to do
/// with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenBack {
    /// Back in the outbox until its action is resumed: the message is done with.
    Returned,
    /// Back in the outbox, but its action is not paused (any more), so the relay sends it again
    /// at once. (Handing the message back to the queue instead would mark it redelivered, and a
    /// worker would count that as a run that stopped.)
    Resumed,
    /// Still pending at that attempt: the relay that published it has not yet marked it queued.
    /// Ask again shortly.
    NotYetQueued,
    /// It ended, moved to another attempt, or its job is gone: the message is stale.
    Moved,
}

impl TakenBack {
    /// The decision, from what the store holds for the unit at the message's attempt.
    pub fn decide(paused: bool, state: Option<UnitState>, same_attempt: bool) -> Self {
        match state {
            Some(UnitState::Queued) if same_attempt && paused => TakenBack::Returned,
            Some(UnitState::Queued) if same_attempt => TakenBack::Resumed,
            Some(UnitState::Pending) if same_attempt => TakenBack::NotYetQueued,
            _ => TakenBack::Moved,
        }
    }

    /// Whether the store put the unit back in the outbox.
    pub fn is_back(self) -> bool {
        matches!(self, TakenBack::Returned | TakenBack::Resumed)
    }
}

/// The longest name an action may have, as `POST /blacklist` checks it.
pub const MAX_ACTION_NAME: usize = 100;

/// Whether `name` can be an action's name: a plain name (what executable actions are named
/// after and queues are named with), not too long.
pub fn is_action_name(name: &str) -> bool {
    name.len() <= MAX_ACTION_NAME && crate::plain_name::is_plain_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_goes_back_to_the_outbox_only_when_queued_at_that_attempt() {
        use TakenBack::*;
        use UnitState::*;
        assert_eq!(TakenBack::decide(true, Some(Queued), true), Returned);
        assert_eq!(TakenBack::decide(false, Some(Queued), true), Resumed);
        assert_eq!(TakenBack::decide(true, Some(Pending), true), NotYetQueued);
        assert_eq!(TakenBack::decide(false, Some(Pending), true), NotYetQueued);
        assert_eq!(TakenBack::decide(true, Some(Queued), false), Moved);
        assert_eq!(TakenBack::decide(true, Some(Pending), false), Moved);
        assert_eq!(TakenBack::decide(true, Some(Succeeded), true), Moved);
        assert_eq!(TakenBack::decide(false, Some(Failed), true), Moved);
        assert_eq!(TakenBack::decide(true, None, true), Moved);
        assert!(Returned.is_back() && Resumed.is_back());
        assert!(!NotYetQueued.is_back() && !Moved.is_back());
    }

    #[test]
    fn action_names_are_plain_words() {
        assert!(is_action_name("word_count"));
        assert!(is_action_name("graphics-magick2"));
        assert!(!is_action_name(""));
        assert!(!is_action_name("a.b"));
        assert!(!is_action_name("a/b"));
        assert!(!is_action_name("with space"));
        assert!(!is_action_name(&"a".repeat(MAX_ACTION_NAME + 1)));
    }
}
