//! berth-image: the image side of berth, as a library (the `berth image` flags live in the
//! binary).
//!
//! One module per concern: [`reference`] parsing, [`registry`] client (with
//! [`auth`] for credentials and challenges), [`manifest`] types and platform
//! selection, the content [`store`] (an OCI image layout plus unpacked layer
//! directories), [`unpack`] of layer tars, [`pull`], [`bundle`] creation,
//! [`commit`] and [`push`], [`archive`] import/export, and [`progress`].
//!
//! # Root filesystems: who mounts
//!
//! Each layer is unpacked once into `<store>/layers/<diff_id>/` in overlayfs
//! form (whiteouts as 0/0 character devices, opaque directories as
//! `trusted.overlay.opaque=y`). A bundle made by [`bundle::create_bundle`]
//! holds `config.json`, an empty `rootfs/`, and its own `upper/` and `work/`.
//! berth-image mounts nothing: the overlay mount data is written into the
//! annotation [`bundle::OVERLAY_ANNOTATION`] (`dev.berth.rootfs.overlay`),
//! `lowerdir=TOP:…:BASE,upperdir=/abs/DIR/upper,workdir=/abs/DIR/work`, and the
//! runtime mounts `overlay` with that data on `root.path` inside the
//! container's private mount namespace before `pivot_root`. The mount then
//! lives and dies with the container and nothing leaks onto the host. The
//! `mount`/`umount` verbs do the same mount on the host, for inspection only.
//!
//! Every such bundle is registered as a hold in the store (see [`store`]): `gc`
//! keeps the image of each bundle that still exists, named or not, and `rmi`
//! refuses the last name of a held image unless forced.
//!
//! Limits: overlayfs mount data is at most one page, so with the default store
//! path an image can have about 40 layers. A bundle made before holds existed
//! has none: `gc` does not know it.

pub mod archive;
pub mod auth;
pub mod bundle;
pub mod commit;
pub mod digest;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;
