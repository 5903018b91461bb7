//! `levee audit`: verify a ledger offline (and that it extends a published checkpoint), sign a
//! checkpoint of it, make a checkpoint signing key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the ledger's hash chain and name the first entry that does not match. With
    /// --checkpoint, also prove that the ledger extends a published checkpoint.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// A signed checkpoint (`levee audit checkpoint`, `GET /v1/audit/checkpoint`): check its
        /// signature, and that the ledger's first entries still hash to its root.
        #[arg(long, requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The verifier key to check the checkpoint's signature with, or a file holding it
        /// (`<name>+<hex key id>+<base64 key>`, as `levee audit keygen` printed it).
        #[arg(long, requires = "checkpoint")]
        key: Option<String>,
        /// Also prove that this entry is included in the checkpoint's tree.
        #[arg(long, requires = "checkpoint")]
        entry: Option<u64>,
    },
    /// Sign a checkpoint of the ledger as it stands (size and Merkle root) with the key in the
    /// configuration's [audit] checkpoint_key, after verifying the chain.
    Checkpoint {
        #[command(flatten)]
        store: StoreArgs,
        /// Where to write the signed checkpoint.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a new checkpoint signing key (0600) and print the verifier key to publish.
    Keygen {
        /// The key's name, which is also its checkpoints' origin: e.g. ledger.example.com/levee.
        #[arg(long)]
        name: String,
        /// The private key file to create; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The store to audit offline (the server stopped: redb allows one process at a time).
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "LEVEE_DATA", default_value = "./levee-data")]
    data: PathBuf,
    /// The levee.toml whose store to verify (a Redis section, say) and whose [audit] key signs.
    #[arg(long, env = "LEVEE_CONFIG")]
    config: Option<PathBuf>,
    /// The store, as `serve --store` takes it: redb, or a redis:// or rediss:// URL.
    #[arg(long, env = "LEVEE_STORE")]
    store: Option<String>,
}

impl StoreArgs {
    /// The configuration file (or the defaults), with --store over its store.
    fn file(&self) -> anyhow::Result<crate::config::FileConfig> {
        let mut file = match &self.config {
            Some(path) => crate::config::FileConfig::load(path)?,
            None => crate::config::FileConfig::default(),
        };
        if let Some(flag) = &self.store {
            file.store = file.store.with_flag(flag)?;
        }
        Ok(file)
    }
}

pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { store, checkpoint, key, entry } => verify(&store, checkpoint.zip(key), entry),
        AuditCommand::Checkpoint { store, out } => checkpoint(&store, &out),
        AuditCommand::Keygen { name, out } => {
            let verifier = crate::audit::keygen(&name, &out)?;
            println!("wrote the private key to {} (keep it secret; point [audit] checkpoint_key at it)", out.display());
            println!("verifier key, to publish:\n{verifier}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `levee audit verify`: the chain, then, given a checkpoint and its verifier key, that the
/// ledger extends it (and includes `entry`). 1 if anything failed.
fn verify(store: &StoreArgs, checkpoint: Option<(PathBuf, String)>, entry: Option<u64>) -> anyhow::Result<ExitCode> {
    let file = store.file()?;
    let claim = match checkpoint {
        Some((path, key)) => Some((
            std::fs::read_to_string(&path).with_context(|| format!("read the checkpoint {}", path.display()))?,
            crate::audit::load_verifier(&key)?,
        )),
        None => None,
    };
    let opened = crate::audit::open_existing(&file.store, &store.data)?;
    let report = levee_core::ledger_store::LedgerStore::new(&*opened).verify()?;
    println!("{}", crate::audit::describe(&report));
    let mut ok = report.ok;
    if let Some((note, verifier)) = claim {
        let findings = crate::audit::check_checkpoint(&*opened, report.head_seq, &note, &verifier, entry);
        println!("{}", crate::audit::describe_checkpoint(&findings));
        ok &= findings.failure.is_none();
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `levee audit checkpoint`: signs the verified ledger's tree with the configured key.
fn checkpoint(store: &StoreArgs, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let file = store.file()?;
    let Some(key) = &file.audit.checkpoint_key else {
        anyhow::bail!("no checkpoint key: set `checkpoint_key` in the [audit] section of the --config file");
    };
    let signer = crate::audit::load_signer(key)?;
    let opened = crate::audit::open_existing(&file.store, &store.data)?;
    match crate::audit::sign_checkpoint(&*opened, &signer)? {
        Err(report) => {
            println!("{}\nnot signed: the ledger does not verify", crate::audit::describe(&report));
            Ok(ExitCode::FAILURE)
        }
        Ok(signed) => {
            std::fs::write(out, &signed.note).with_context(|| format!("write {}", out.display()))?;
            println!(
                "wrote {}: {} entries, root {}, signed by {} ({})",
                out.display(),
                signed.size,
                hex::encode(signed.root),
                signer.name(),
                signer.key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
