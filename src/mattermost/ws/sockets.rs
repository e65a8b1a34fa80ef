//! The per-node state of the v4 WebSocket that the node's shared state holds: kept apart from the
//! handler so that `AppState` can hold it without depending on the handler that reads `AppState`.

use std::sync::Arc;

use super::directory::Directory;
use super::position::Positions;
use crate::cluster::{Keys, RedisLink};

/// The per-node parts of the v4 WebSocket.
pub struct MmSockets {
    pub directory: Arc<Directory>,
    pub positions: Positions,
}

impl MmSockets {
    pub fn new(redis: Option<Arc<RedisLink>>, prefix: &str) -> MmSockets {
        let positions = match redis {
            Some(link) => Positions::Redis(link, Keys::new(prefix)),
            None => Positions::Memory(Arc::default()),
        };
        MmSockets { directory: Arc::default(), positions }
    }
}
