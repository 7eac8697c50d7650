//! A set that keeps only the ids most recently added: for remembering "done for this job"
//! (its options stored, its deletion heard) without growing forever.

use std::collections::{HashSet, VecDeque};

pub struct RecentIds {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
    capacity: usize,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }

    /// Adds `id`, forgetting the oldest once more than `capacity` are kept.
    pub fn insert(&mut self, id: i64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > self.capacity {
                if let Some(oldest) = self.order.pop_front() {
                    self.ids.remove(&oldest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_are_forgotten() {
        let mut recent = RecentIds::new(2);
        recent.insert(1);
        recent.insert(2);
        recent.insert(2);
        assert!(recent.contains(1) && recent.contains(2));
        recent.insert(3);
        assert!(!recent.contains(1) && recent.contains(2) && recent.contains(3));
    }
}
