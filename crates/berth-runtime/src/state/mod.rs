//! Container state: the on-disk store, the status model, and the OCI state documents.

pub mod oci;
pub mod status;
pub mod store;

pub use oci::OciState;
pub use status::{Status, Verb};
pub use store::{ContainerDir, State, StoredStatus};
