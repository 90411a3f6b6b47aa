//! berth-image (work in progress).
