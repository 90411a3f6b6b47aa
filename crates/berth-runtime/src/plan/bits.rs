//! Serde helpers for the flag types the plan carries across to the container's init.

/// `nix::mount::MsFlags` as its bits.
pub mod ms_flags {
    use nix::mount::MsFlags;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &MsFlags, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(f.bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MsFlags, D::Error> {
        Ok(MsFlags::from_bits_retain(u64::deserialize(d)?))
    }
}

/// A list of `MsFlags`.
pub mod ms_flags_vec {
    use nix::mount::MsFlags;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &[MsFlags], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(f.iter().map(|f| f.bits()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MsFlags>, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?
            .into_iter()
            .map(MsFlags::from_bits_retain)
            .collect())
    }
}

/// `nix::sched::CloneFlags` as its bits.
pub mod clone_flags {
    use nix::sched::CloneFlags;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &CloneFlags, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(f.bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CloneFlags, D::Error> {
        Ok(CloneFlags::from_bits_retain(i32::deserialize(d)?))
    }
}
