//! `ChannelMap`: a session's per-channel state, as a list sorted by channel id. Every socket keeps two
//! of these (cursors and outbox lanes), most for a handful of channels, where a hash table allocates
//! four buckets or more and a sorted list exactly what it holds (docs/benchmarks.md, issue #21).
//! Lookups are binary searches, so a user in a thousand channels still finds one in ten steps;
//! inserting shifts the tail, which happens when a channel is followed, not per frame.

use uuid::Uuid;

pub struct ChannelMap<V> {
    entries: Vec<(Uuid, V)>,
}

impl<V> Default for ChannelMap<V> {
    fn default() -> Self {
        ChannelMap { entries: Vec::new() }
    }
}

impl<V> ChannelMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, channel: &Uuid) -> Result<usize, usize> {
        self.entries.binary_search_by(|(id, _)| id.cmp(channel))
    }

    /// Sets `channel`'s value, returning the one it replaces.
    pub fn insert(&mut self, channel: Uuid, value: V) -> Option<V> {
        match self.find(&channel) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (channel, value));
                None
            }
        }
    }

    pub fn remove(&mut self, channel: &Uuid) -> Option<V> {
        let at = self.find(channel).ok()?;
        let (_, value) = self.entries.remove(at);
        if self.entries.capacity() > 2 * self.entries.len() + 4 {
            self.entries.shrink_to_fit();
        }
        Some(value)
    }

    pub fn get(&self, channel: &Uuid) -> Option<&V> {
        self.find(channel).ok().map(|at| &self.entries[at].1)
    }

    pub fn get_mut(&mut self, channel: &Uuid) -> Option<&mut V> {
        self.find(channel).ok().map(|at| &mut self.entries[at].1)
    }

    pub fn contains_key(&self, channel: &Uuid) -> bool {
        self.find(channel).is_ok()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &V)> {
        self.entries.iter().map(|(id, v)| (id, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Uuid> {
        self.entries.iter().map(|(id, _)| id)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_finds_what_was_inserted_and_forgets_what_was_removed_in_any_order() {
        let mut map = ChannelMap::new();
        let ids: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(map.insert(*id, n), None);
        }
        assert_eq!(map.len(), 50);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(&n));
        }
        assert_eq!(map.insert(ids[7], 700), Some(7), "a second insert replaces");
        *map.get_mut(&ids[8]).unwrap() = 800;
        assert_eq!(map.get(&ids[8]), Some(&800));
        for id in ids.iter().step_by(2) {
            assert!(map.remove(id).is_some());
        }
        assert_eq!(map.remove(&ids[0]), None, "removed once");
        assert_eq!(map.len(), 25);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(map.contains_key(id), n % 2 == 1, "{n}");
        }
        let keys: Vec<Uuid> = map.keys().copied().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "kept sorted");
        assert_eq!(map.values().count(), 25);
        assert!(!map.is_empty());
    }
}
