//! Logging of security decisions through `tracing` (feature `tracing`),
//! with session handles and reasons, never token material (SEC-05).
//! Without the feature the macros expand to nothing.

macro_rules! log_warn {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::warn!($($arg)*);
    };
}

macro_rules! log_debug {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::debug!($($arg)*);
    };
}

pub(crate) use {log_debug, log_warn};

macro_rules! log_error {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::error!($($arg)*);
    };
}

pub(crate) use log_error;
