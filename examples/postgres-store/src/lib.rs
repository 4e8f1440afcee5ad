//! A postgres store for sessionkit (work in progress).
