//! The image verbs of `berth image`: pull, push, ls, inspect, rmi, tag, login, logout,
//! bundle, commit, gc, import, export, mount, umount.

use anyhow::{bail, Context, Result};
use berth_image::auth::{self, AuthFile, Credentials};
use berth_image::manifest::Platform;
use berth_image::progress::{human, Progress};
use berth_image::pull::PullOptions;
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::Client;
use berth_image::store::Store;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum ImageVerb {
    /// Fetch an image from a registry into the store.
    Pull {
        /// os/arch[/variant] to pick from a multi-platform image.
        #[arg(long)]
        platform: Option<String>,
        reference: String,
    },
    /// Upload a stored image to its registry (or to DEST).
    Push {
        reference: String,
        dest: Option<String>,
        /// Upload blobs in chunks of this many bytes (0: one request per blob).
        #[arg(long, default_value_t = 0)]
        chunk_size: u64,
    },
    /// List stored images.
    #[command(alias = "list")]
    Ls {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print an image's manifest and config as JSON.
    Inspect { reference: String },
    /// Remove an image's name (blobs go with `gc`). The last name of an image a container or
    /// bundle uses is refused unless forced; its content stays while it is used.
    Rmi {
        /// Remove the name even when a container or bundle uses the image.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Give a stored image another name.
    Tag { source: String, target: String },
    /// Store credentials for a registry.
    Login {
        registry: String,
        #[arg(long, short)]
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget credentials for a registry.
    Logout { registry: String },
    /// Create an OCI runtime bundle (config.json + overlay dirs) from an image.
    Bundle { reference: String, dir: PathBuf },
    /// Turn a bundle's changes into a new image.
    Commit {
        dir: PathBuf,
        reference: String,
        #[arg(long, short)]
        message: Option<String>,
    },
    /// Remove blobs and layers that no image name, container or bundle refers to.
    Gc,
    /// Load an image archive: an OCI layout tar or a docker-archive (`docker save`).
    #[command(alias = "load")]
    Import {
        file: PathBuf,
        /// The name to store the (first) image under, instead of the archive's own.
        reference: Option<String>,
    },
    /// Write an image as an archive.
    #[command(alias = "save")]
    Export {
        /// oci-archive (an OCI layout tar) or docker-archive (what `docker load` reads).
        #[arg(long, default_value = "oci-archive")]
        format: String,
        reference: String,
        file: PathBuf,
    },
    /// Mount a bundle's overlay rootfs on the host (for inspection).
    Mount { dir: PathBuf },
    /// Unmount what `mount` mounted.
    Umount { dir: PathBuf },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Runs one image verb; returns the process exit code.
pub fn run(store: &Path, insecure: bool, verb: ImageVerb) -> Result<i32> {
    let progress = Progress::auto();
    let open =
        || Store::open(store).with_context(|| format!("open image store {}", store.display()));
    match verb {
        ImageVerb::Pull {
            platform,
            reference,
        } => {
            let r = Reference::parse(&reference)?;
            let platform = match platform {
                Some(p) => Platform::parse(&p)?,
                None => Platform::host(),
            };
            let digest = berth_image::pull::pull(
                &open()?,
                &r,
                &PullOptions { platform, insecure },
                &progress,
            )?;
            println!("{digest}");
        }
        ImageVerb::Push {
            reference,
            dest,
            chunk_size,
        } => {
            let dest = dest.map(|d| Reference::parse(&d)).transpose()?;
            let opts = PushOptions {
                insecure,
                chunk_size: Some(chunk_size).filter(|c| *c > 0),
            };
            let digest =
                berth_image::push::push(&open()?, &reference, dest.as_ref(), &opts, &progress)?;
            println!("{digest}");
        }
        ImageVerb::Ls { format } => list(&open()?, format)?,
        ImageVerb::Inspect { reference } => {
            let store = open()?;
            let entry = store.resolve(&reference)?;
            let image = store.load_image(&entry.manifest.digest)?;
            let config: serde_json::Value = serde_json::from_slice(&image.config_bytes)?;
            let out = serde_json::json!({
                "name": entry.name,
                "digest": entry.manifest.digest.to_string(),
                "manifest": image.manifest,
                "config": config,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ImageVerb::Rmi { force, references } => {
            let store = open()?;
            for r in references {
                let e = store.untag(&r, force)?;
                println!("untagged {}", e.name);
            }
        }
        ImageVerb::Tag { source, target } => {
            let store = open()?;
            let e = store.resolve(&source)?;
            store.set_ref(&Reference::parse(&target)?, &e.manifest)?;
        }
        ImageVerb::Login {
            registry,
            username,
            password_stdin,
        } => {
            if !password_stdin {
                bail!("give the password on standard input with --password-stdin");
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("read password from stdin")?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let registry = normalize_registry(&registry);
            let creds = Credentials { username, password };
            Client::new(&registry, insecure, Some(creds.clone())).ping()?;
            let path = auth::auth_file_path();
            let mut f = AuthFile::load(&path)?;
            f.set(&registry, &creds);
            f.save()?;
            println!("Login Succeeded");
        }
        ImageVerb::Logout { registry } => {
            let registry = normalize_registry(&registry);
            let path = auth::auth_file_path();
            let mut f = AuthFile::load(&path)?;
            if !f.remove(&registry) {
                eprintln!("not logged in to {registry}");
                return Ok(1);
            }
            f.save()?;
            println!("Removed login credentials for {registry}");
        }
        ImageVerb::Bundle { reference, dir } => {
            let dir = berth_image::bundle::create_bundle(&open()?, &reference, &dir, &progress)?;
            println!("{}", dir.display());
        }
        ImageVerb::Commit {
            dir,
            reference,
            message,
        } => {
            let r = Reference::parse(&reference)?;
            let digest =
                berth_image::commit::commit(&open()?, &dir, &r, message.as_deref(), &progress)?;
            println!("{digest}");
        }
        ImageVerb::Gc => {
            let report = open()?.gc()?;
            for holder in &report.stale_holds {
                println!("dropped the hold of {} (gone)", holder.display());
            }
            println!(
                "removed {} blobs and {} layers, {} freed",
                report.blobs,
                report.layers,
                human(report.bytes)
            );
        }
        ImageVerb::Import { file, reference } => {
            let r = reference.map(|r| Reference::parse(&r)).transpose()?;
            for name in berth_image::archive::import(&open()?, &file, r.as_ref())? {
                println!("{name}");
            }
        }
        ImageVerb::Export {
            format,
            reference,
            file,
        } => {
            let format: berth_image::archive::Format = format
                .parse()
                .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
            berth_image::archive::export(&open()?, &reference, &file, format)?
        }
        ImageVerb::Mount { dir } => berth_image::bundle::mount(&dir)?,
        ImageVerb::Umount { dir } => berth_image::bundle::umount(&dir)?,
    }
    Ok(0)
}

fn normalize_registry(r: &str) -> String {
    let r = r
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match r {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        r => r.to_string(),
    }
}

fn list(store: &Store, format: Format) -> Result<()> {
    let mut rows = Vec::new();
    for e in store.list()? {
        let (size, created) = match store.load_image(&e.manifest.digest) {
            Ok(img) => (
                img.manifest.layers.iter().map(|l| l.size).sum::<u64>() + img.manifest.config.size,
                img.config.created.clone().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        };
        rows.push((e, size, created));
    }
    match format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(e, size, created)| serde_json::json!({"name": e.name, "digest": e.manifest.digest.to_string(), "size": size, "created": created}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            println!("{:<50} {:<14} {:>10}  CREATED", "NAME", "DIGEST", "SIZE");
            for (e, size, created) in rows {
                println!(
                    "{:<50} {:<14} {:>10}  {}",
                    e.name,
                    e.manifest.digest.short(),
                    human(size),
                    created.get(..19).unwrap_or(&created)
                );
            }
        }
    }
    Ok(())
}
