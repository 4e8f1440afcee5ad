//! A redis store for sessionkit (work in progress).
