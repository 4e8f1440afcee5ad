//! [`StoreConnection`]: one connection type over a single server or a
//! Redis Cluster, so that the store has one code path for both.

use std::fmt;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// The connection a [`RedisStore`](crate::RedisStore) sends its commands
/// on: an auto-reconnecting connection to one server, or a cluster
/// connection that follows the cluster's slots (`MOVED` and `ASK`
/// redirections, failovers).
///
/// Cloning is cheap and shares the connection. It implements the `redis`
/// crate's [`ConnectionLike`], so any command can be sent on it (health
/// checks, diagnostics); on a cluster, a command is routed by its first key.
#[derive(Clone)]
pub struct StoreConnection(Kind);

#[derive(Clone)]
enum Kind {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl StoreConnection {
    pub(crate) fn single(conn: ConnectionManager) -> Self {
        Self(Kind::Single(conn))
    }

    pub(crate) fn cluster(conn: ClusterConnection) -> Self {
        Self(Kind::Cluster(conn))
    }

    /// Whether this is a connection to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Kind::Cluster(_))
    }
}

impl ConnectionLike for StoreConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Kind::Single(c) => c.req_packed_command(cmd),
            Kind::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Kind::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Kind::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Kind::Single(c) => c.get_db(),
            Kind::Cluster(c) => c.get_db(),
        }
    }
}

impl fmt::Debug for StoreConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConnection")
            .field("cluster", &self.is_cluster())
            .finish_non_exhaustive()
    }
}
