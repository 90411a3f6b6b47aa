//! `berth image …`: argument structs and one small function per verb.

use crate::auth::{self, AuthFile, Credentials};
use crate::manifest::Platform;
use crate::progress::{human, Progress};
use crate::pull::PullOptions;
use crate::push::PushOptions;
use crate::reference::Reference;
use crate::registry::Client;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(about = "Pull, store, bundle, commit and push OCI images")]
pub struct ImageCli {
    /// Image store directory (an OCI image layout).
    #[arg(long, default_value = crate::store::DEFAULT_STORE)]
    pub store: PathBuf,
    /// Allow plain HTTP to registries that are not on loopback.
    #[arg(long, global = true)]
    pub insecure: bool,
    #[command(subcommand)]
    pub cmd: ImageCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
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
    /// Remove an image's name (blobs go with `gc`).
    #[command(alias = "rmi")]
    Rm { references: Vec<String> },
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
    /// Remove blobs and layers no image refers to.
    Gc,
    /// Load an OCI layout tar archive.
    Import {
        file: PathBuf,
        reference: Option<String>,
    },
    /// Write an image as an OCI layout tar archive.
    Export { reference: String, file: PathBuf },
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

/// Runs one `berth image` command; returns the process exit code.
pub fn run(cli: ImageCli) -> Result<i32> {
    let progress = Progress::auto();
    let open = || {
        Store::open(&cli.store).with_context(|| format!("open image store {}", cli.store.display()))
    };
    match cli.cmd {
        ImageCommand::Pull {
            platform,
            reference,
        } => {
            let r = Reference::parse(&reference)?;
            let platform = match platform {
                Some(p) => Platform::parse(&p)?,
                None => Platform::host(),
            };
            let digest = crate::pull::pull(
                &open()?,
                &r,
                &PullOptions {
                    platform,
                    insecure: cli.insecure,
                },
                &progress,
            )?;
            println!("{digest}");
        }
        ImageCommand::Push {
            reference,
            dest,
            chunk_size,
        } => {
            let dest = dest.map(|d| Reference::parse(&d)).transpose()?;
            let opts = PushOptions {
                insecure: cli.insecure,
                chunk_size: Some(chunk_size).filter(|c| *c > 0),
            };
            let digest = crate::push::push(&open()?, &reference, dest.as_ref(), &opts, &progress)?;
            println!("{digest}");
        }
        ImageCommand::Ls { format } => list(&open()?, format)?,
        ImageCommand::Inspect { reference } => {
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
        ImageCommand::Rm { references } => {
            let store = open()?;
            for r in references {
                let e = store.remove_ref(&r)?;
                println!("untagged {}", e.name);
            }
        }
        ImageCommand::Tag { source, target } => {
            let store = open()?;
            let e = store.resolve(&source)?;
            store.set_ref(&Reference::parse(&target)?, &e.manifest)?;
        }
        ImageCommand::Login {
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
            Client::new(&registry, cli.insecure, Some(creds.clone())).ping()?;
            let path = auth::auth_file_path();
            let mut f = AuthFile::load(&path)?;
            f.set(&registry, &creds);
            f.save()?;
            println!("Login Succeeded");
        }
        ImageCommand::Logout { registry } => {
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
        ImageCommand::Bundle { reference, dir } => {
            let dir = crate::bundle::create_bundle(&open()?, &reference, &dir, &progress)?;
            println!("{}", dir.display());
        }
        ImageCommand::Commit {
            dir,
            reference,
            message,
        } => {
            let r = Reference::parse(&reference)?;
            let digest = crate::commit::commit(&open()?, &dir, &r, message.as_deref(), &progress)?;
            println!("{digest}");
        }
        ImageCommand::Gc => {
            let report = open()?.gc()?;
            println!(
                "removed {} blobs and {} layers, {} freed",
                report.blobs,
                report.layers,
                human(report.bytes)
            );
        }
        ImageCommand::Import { file, reference } => {
            let r = reference.map(|r| Reference::parse(&r)).transpose()?;
            for name in crate::archive::import(&open()?, &file, r.as_ref())? {
                println!("{name}");
            }
        }
        ImageCommand::Export { reference, file } => {
            crate::archive::export(&open()?, &reference, &file)?
        }
        ImageCommand::Mount { dir } => crate::bundle::mount(&dir)?,
        ImageCommand::Umount { dir } => crate::bundle::umount(&dir)?,
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
