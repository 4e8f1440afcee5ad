//! A running server, as every example application's `start` function
//! returns it: the same shape whatever the framework, so that the tests
//! start any of them the same way.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;

/// A server serving an [`App`](crate::App) on a socket; it stops when
/// dropped (or with [`stop`](Self::stop)).
pub struct RunningServer {
    addr: SocketAddr,
    // A mutex so that the server can be shared between threads whatever
    // the stop function holds.
    stop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl RunningServer {
    /// A server listening on `addr`, stopped by calling `stop`.
    pub fn new(addr: SocketAddr, stop: impl FnOnce() + Send + 'static) -> Self {
        Self {
            addr,
            stop: Mutex::new(Some(Box::new(stop))),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server: it accepts no new connection.
    pub fn stop(self) {
        drop(self);
    }

    fn stop_now(&mut self) {
        let stop = self
            .stop
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            stop();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
