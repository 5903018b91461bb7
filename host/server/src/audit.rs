//! `levee audit`: offline checks of the ledger straight from the store, without a server.
//! `verify` recomputes the hash chain, and with a published checkpoint also proves that the
//! ledger extends it and that an entry is included; `checkpoint` signs the current tree with
//! the configured key; `keygen` writes a new key. The `[audit]` section of levee.toml names
//! the key `serve` and `checkpoint` sign with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use levee_core::checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier};
use levee_core::ledger::VerifyReport;
use levee_core::ledger_proofs;
use levee_core::ledger_store::LedgerStore;
use levee_core::merkle;
use levee_core::store::Store;
use serde::Deserialize;

use crate::store::{StoreConfig, redb_path};

/// `[audit]` in levee.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// A private key file written by `levee audit keygen` (the note form
    /// `PRIVATE+KEY+<name>+<hex id>+<base64>`): `GET /v1/audit/checkpoint` and
    /// `levee audit checkpoint` sign with it.
    pub checkpoint_key: Option<PathBuf>,
}

/// Verifies the ledger of the embedded store in `data_dir`.
pub fn verify(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    verify_store(&StoreConfig::default(), data_dir)
}

/// Verifies the ledger of the configured store (the embedded one lives in `data_dir`).
pub fn verify_store(config: &StoreConfig, data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let store = open_existing(config, data_dir)?;
    Ok(LedgerStore::new(&*store).verify()?)
}

/// Opens the configured store, refusing a redb file that does not exist (an empty new one would
/// verify).
pub fn open_existing(config: &StoreConfig, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    if let StoreConfig::Redb { path, .. } = config {
        let path = path.clone().unwrap_or_else(|| redb_path(data_dir));
        if !path.exists() {
            bail!("no levee store at {} (is --data right?)", path.display());
        }
    }
    crate::store::open(config, data_dir)
}

/// The report as a person reads it.
pub fn describe(report: &VerifyReport) -> String {
    match &report.first_mismatch {
        None => format!(
            "ledger OK: {} entries, head {} (hash {})",
            report.entries_checked, report.head_seq, report.head_hash
        ),
        Some(mismatch) => format!(
            "ledger BROKEN at entry {}{}: {}\n{} entries before it verified",
            mismatch.seq,
            mismatch.subject.as_deref().map(|subject| format!(" ({subject})")).unwrap_or_default(),
            mismatch.problem,
            report.entries_checked
        ),
    }
}

/// The configured signing key, if `[audit] checkpoint_key` names one.
pub fn checkpoint_signer(config: &AuditConfig) -> anyhow::Result<Option<CheckpointSigner>> {
    let Some(path) = &config.checkpoint_key else { return Ok(None) };
    let signer = load_signer(path)?;
    tracing::info!(name = signer.name(), key_id = %signer.key_id(), "checkpoints are signed");
    Ok(Some(signer))
}

/// Reads a private key file. Errors name the file and what is wrong, never the key.
pub fn load_signer(path: &Path) -> anyhow::Result<CheckpointSigner> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read the checkpoint key {}", path.display()))?;
    CheckpointSigner::parse(&text).with_context(|| format!("the checkpoint key {}", path.display()))
}

/// A verifier key given as its text or as a file holding it.
pub fn load_verifier(key_or_file: &str) -> anyhow::Result<CheckpointVerifier> {
    let path = Path::new(key_or_file);
    let text = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("read the verifier key {}", path.display()))?
    } else {
        key_or_file.to_owned()
    };
    CheckpointVerifier::parse(&text).context("--key")
}

/// Writes a new private key named `name` to `out` (0600, never over an existing file) and
/// returns its verifier key, to publish.
pub fn keygen(name: &str, out: &Path) -> anyhow::Result<CheckpointVerifier> {
    use rand::RngExt;
    let mut seed = [0u8; 32];
    rand::rng().fill(&mut seed);
    let signer = CheckpointSigner::from_seed(name, seed).context("--name")?;
    write_secret(out, format!("{}\n", signer.private_key()).as_bytes())
        .with_context(|| format!("write {} (an existing key file is never replaced)", out.display()))?;
    Ok(signer.verifier())
}

fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// A checkpoint signed offline.
pub struct Signed {
    pub note: String,
    pub size: u64,
    pub root: merkle::Hash,
}

/// Verifies the ledger and, if it holds, signs its current tree. A ledger that does not
/// verify is not signed: the report says why.
pub fn sign_checkpoint(store: &dyn Store, signer: &CheckpointSigner) -> anyhow::Result<Result<Signed, VerifyReport>> {
    let report = LedgerStore::new(store).verify()?;
    if !report.ok {
        return Ok(Err(report));
    }
    let leaves = ledger_proofs::checked_leaves(store, report.head_seq)?;
    let root = merkle::root(&leaves);
    Ok(Ok(Signed { note: signer.sign(report.head_seq, root), size: report.head_seq, root }))
}

/// What `audit verify --checkpoint` proved, line by line, and the first thing that failed.
#[derive(Debug, Default)]
pub struct CheckpointFindings {
    pub proved: Vec<String>,
    pub failure: Option<String>,
}

impl CheckpointFindings {
    fn fail(mut self, failure: String) -> Self {
        self.failure = Some(failure);
        self
    }
}

/// Checks a published checkpoint against the ledger in `store`, whose settled head is
/// `head_seq`: its signature by `verifier`, that the ledger's first `size` entries hash to its
/// root (so the ledger now extends it), and with `entry`, that entry's inclusion proof
/// against its root.
pub fn check_checkpoint(
    store: &dyn Store,
    head_seq: u64,
    note: &str,
    verifier: &CheckpointVerifier,
    entry: Option<u64>,
) -> CheckpointFindings {
    let mut findings = CheckpointFindings::default();
    let checkpoint = match verifier.verify(note) {
        Ok(checkpoint) => checkpoint,
        Err(error) => return findings.fail(format!("checkpoint signature: {error}")),
    };
    findings.proved.push(format!(
        "signed by {} ({}): origin {}, {} entries, root {}",
        verifier.name(),
        verifier.key_id(),
        checkpoint.origin,
        checkpoint.size,
        hex::encode(checkpoint.root)
    ));
    if checkpoint.size > head_seq {
        return findings.fail(format!(
            "the ledger has {head_seq} entries, fewer than the checkpoint's {}: entries were removed after it was signed",
            checkpoint.size
        ));
    }
    let leaves = match ledger_proofs::leaves(store, checkpoint.size) {
        Ok(leaves) => leaves,
        Err(error) => return findings.fail(format!("reading entries 1 to {}: {error}", checkpoint.size)),
    };
    let root = merkle::root(&leaves);
    if root != checkpoint.root {
        return findings.fail(format!(
            "root mismatch: the ledger's first {} entries hash to root {}, not the checkpoint's {}: \
             entries at or below {} were changed after it was signed",
            checkpoint.size,
            hex::encode(root),
            hex::encode(checkpoint.root),
            checkpoint.size
        ));
    }
    findings.proved.push(format!(
        "the ledger's first {} entries hash to the checkpoint's root: the ledger ({head_seq} entries) extends it",
        checkpoint.size
    ));
    match entry {
        None => findings,
        Some(seq) => prove_inclusion(store, &checkpoint, &leaves, seq, findings),
    }
}

/// Entry `seq`'s audit path in the checkpoint's tree, verified against its root.
fn prove_inclusion(
    store: &dyn Store,
    checkpoint: &Checkpoint,
    leaves: &[merkle::Hash],
    seq: u64,
    mut findings: CheckpointFindings,
) -> CheckpointFindings {
    if seq == 0 || seq > checkpoint.size {
        return findings.fail(format!(
            "entry {seq} is not in the checkpoint, which covers entries 1 to {}: sign a newer checkpoint to prove it",
            checkpoint.size
        ));
    }
    let index = (seq - 1) as usize;
    let (Some(proof), Some(leaf)) = (merkle::inclusion_proof(leaves, index), leaves.get(index)) else {
        return findings.fail(format!("entry {seq} has no leaf in the tree"));
    };
    if let Err(error) = merkle::verify_inclusion(leaf, seq - 1, checkpoint.size, &proof, &checkpoint.root) {
        return findings.fail(format!("entry {seq}'s inclusion proof: {error}"));
    }
    let hash = match LedgerStore::new(store).slot(seq) {
        Ok(Some(slot)) => slot.entry.hash,
        Ok(None) => return findings.fail(format!("entry {seq} is missing")),
        Err(error) => return findings.fail(format!("reading entry {seq}: {error}")),
    };
    findings.proved.push(format!(
        "entry {seq} (hash {hash}) is included: its audit path of {} hashes leads to the checkpoint's root",
        proof.len()
    ));
    findings.proved.extend(proof.iter().map(|hash| format!("  {}", hex::encode(hash))));
    findings
}

/// The findings as a person reads them.
pub fn describe_checkpoint(findings: &CheckpointFindings) -> String {
    let proved = |line: &String| if line.starts_with(' ') { line.clone() } else { format!("checkpoint OK: {line}") };
    let mut lines: Vec<String> = findings.proved.iter().map(proved).collect();
    if let Some(failure) = &findings.failure {
        lines.push(format!("checkpoint FAILED: {failure}"));
    }
    lines.join("\n")
}
