//! berth-seccomp (work in progress).
