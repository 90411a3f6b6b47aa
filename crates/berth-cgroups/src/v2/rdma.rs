//! `linux.resources.rdma` on the v2 `rdma` controller: the same `rdma.max` lines as on v1.

pub(crate) use crate::v1::rdma::apply;
