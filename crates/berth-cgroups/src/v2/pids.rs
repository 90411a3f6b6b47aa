//! `linux.resources.pids` on the v2 `pids` controller: the same `pids.max` and
//! `pids.current` files as on v1.

pub(crate) use crate::v1::pids::{apply, stats};
