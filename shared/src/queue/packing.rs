//! Which units share a work message. One message per unit costs the broker a publish, a
//! confirm, a delivery and an ack each, and that is most of the broker's work per unit; when an
//! action's queue is deep, units travel several to a message instead. Each is still recorded,
//! retried and failed on its own.

use crate::{
    lane::Lane,
    messages::{encoded_len, WorkMessage},
};

/// Units in one message at most.
pub const MAX_UNITS_PER_MESSAGE: usize = 16;

/// Units of one action in a relay's round per unit packed together: a round of fewer than
/// twice this goes one unit per message, so a small job spreads over every idle worker.
const UNITS_PER_PACKED: usize = 16;

/// Groups `units` into messages, in order within each group. Units of one action and lane
/// share a message when there are many of them in this round; a unit on its second attempt or
/// later always travels alone, so a unit that kills its worker takes no other unit's attempts
/// with it a second time. A group stays within `max_bytes` as JSON.
pub fn pack(units: Vec<WorkMessage>, max_bytes: usize) -> Vec<Vec<WorkMessage>> {
    let mut groups: Vec<((String, Lane), Vec<WorkMessage>)> = Vec::new();
    let mut messages = Vec::new();
    for unit in units {
        if unit.attempt > 0 {
            messages.push(vec![unit]);
            continue;
        }
        let key = (unit.action.clone(), unit.lane);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(unit),
            None => groups.push((key, vec![unit])),
        }
    }
    for (_, group) in groups {
        let per_message = (group.len() / UNITS_PER_PACKED).clamp(1, MAX_UNITS_PER_MESSAGE);
        let mut current: Vec<WorkMessage> = Vec::new();
        let mut bytes = 2; // the array's brackets
        for unit in group {
            let size = encoded_len(&unit) + 1; // and its comma
            if !current.is_empty() && (current.len() == per_message || bytes + size > max_bytes) {
                messages.push(std::mem::take(&mut current));
                bytes = 2;
            }
            bytes += size;
            current.push(unit);
        }
        if !current.is_empty() {
            messages.push(current);
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use crate::ids::{JobId, UnitId};
    use serde_json::json;

    use super::*;
    use crate::{
        lane::{Lane, BULK_FROM},
        status::Stage,
    };

    fn unit(id: i64, action: &str, stage: Stage, attempt: i32) -> WorkMessage {
        WorkMessage {
            unit_id: UnitId(id),
            job_id: JobId(1),
            action: action.into(),
            stage,
            input: json!("x"),
            input_key: None,
            options: json!({}),
            options_key: None,
            attempt,
            max_attempts: 3,
            lane: Lane::of(stage, BULK_FROM),
        }
    }

    fn ids(messages: &[Vec<WorkMessage>]) -> Vec<Vec<i64>> {
        messages
            .iter()
            .map(|m| m.iter().map(|u| u.unit_id.0).collect())
            .collect()
    }

    fn many(n: i64, action: &str) -> Vec<WorkMessage> {
        (0..n).map(|i| unit(i, action, Stage::Process, 0)).collect()
    }

    #[test]
    fn a_shallow_round_sends_one_unit_per_message() {
        let messages = pack(many(31, "a"), usize::MAX);
        assert_eq!(messages.len(), 31);
        assert!(messages.iter().all(|m| m.len() == 1));
    }

    #[test]
    fn a_deep_round_packs_units_in_order_up_to_the_most() {
        let messages = pack(many(64, "a"), usize::MAX);
        assert_eq!(messages.len(), 16);
        assert_eq!(ids(&messages)[0], vec![0, 1, 2, 3]);
        let messages = pack(many(1000, "a"), usize::MAX);
        assert!(messages
            .iter()
            .all(|m| m.len() == MAX_UNITS_PER_MESSAGE || m.len() == 1000 % 16));
        let flat: Vec<i64> = ids(&messages).concat();
        assert_eq!(
            flat,
            (0..1000).collect::<Vec<_>>(),
            "every unit, once, in order"
        );
    }

    #[test]
    fn actions_and_lanes_never_share_a_message() {
        let mut units = many(64, "a");
        units.extend((100..164).map(|i| unit(i, "b", Stage::Process, 0)));
        units.push(unit(200, "a", Stage::Merge, 0));
        for message in pack(units, usize::MAX) {
            let first = &message[0];
            assert!(message
                .iter()
                .all(|u| u.action == first.action && u.lane == first.lane));
        }
    }

    #[test]
    fn a_retried_unit_travels_alone() {
        let mut units = many(64, "a");
        units[5].attempt = 1;
        let messages = pack(units, usize::MAX);
        assert!(messages.contains(&vec![unit(5, "a", Stage::Process, 1)]));
        assert!(messages
            .iter()
            .filter(|m| m.len() > 1)
            .all(|m| m.iter().all(|u| u.attempt == 0)));
    }

    #[test]
    fn a_message_stays_within_the_byte_limit() {
        let one = encoded_len(&unit(0, "a", Stage::Process, 0));
        let messages = pack(many(64, "a"), 2 + 2 * (one + 1));
        assert!(messages.iter().all(|m| m.len() <= 2));
        assert!(messages
            .iter()
            .all(|m| encoded_len(&crate::messages::OneOrMany(m.clone())) <= 2 + 2 * (one + 1)));
    }
}
