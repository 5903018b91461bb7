//! Signed ledger checkpoints: a tree size and the Merkle root of the ledger's first that many
//! entries (`ledger_proofs`), signed by the host's ed25519 key so that they can be published
//! outside levee and checked later without trusting its store.
//!
//! The text is a C2SP tlog-checkpoint in a C2SP signed note, as golang.org/x/mod/sumdb/note
//! writes them: the body `<origin>\n<size>\n<base64 root>\n`, a blank line, then one line per
//! signature, `— <key name> <base64(4-byte key id ‖ 64-byte signature)>`. A key id is the first
//! four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key). Keys are written in the
//! note forms too: the verifier key `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, the
//! private key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`. levee's origin is the
//! key's name. Pure: no I/O, and signing with an existing key needs no randomness.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature algorithm byte of the note format: Ed25519.
const ALG_ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// The longest note read, and the most signatures it may carry (as golang.org/x/mod does).
const MAX_NOTE_BYTES: usize = 1 << 20;
const MAX_SIGNATURES: usize = 100;

/// What a checkpoint says: which log, how many entries, and the root of their tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a key, a note or a checkpoint was refused. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the key is not in the note key form: {0}")]
    Key(String),
    #[error("the checkpoint is not a signed note: {0}")]
    Note(String),
    #[error("the checkpoint's text is not a tlog checkpoint: {0}")]
    Body(String),
    #[error("the checkpoint carries no signature by the key {name} ({key_id}); it is signed by: {found}")]
    NotSigned { name: String, key_id: String, found: String },
    #[error("the signature by {name} ({key_id}) does not verify: the checkpoint was altered after signing")]
    BadSignature { name: String, key_id: String },
}

impl Checkpoint {
    /// The note body: origin, size and base64 root, each on its own line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// Reads a note body. Extension lines after the root are allowed and ignored.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let text = body.strip_suffix('\n').ok_or_else(|| body_error("it does not end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|line| !line.is_empty()).ok_or_else(|| body_error("the origin is empty"))?;
        let size = parse_size(lines.next().unwrap_or_default())?;
        let root = parse_root(lines.next().unwrap_or_default())?;
        if lines.any(str::is_empty) {
            return Err(body_error("it has an empty line after the root hash"));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }
}

fn body_error(problem: &str) -> CheckpointError {
    CheckpointError::Body(problem.to_owned())
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let digits = !line.is_empty() && line.bytes().all(|byte| byte.is_ascii_digit());
    if !digits || (line.len() > 1 && line.starts_with('0')) {
        return Err(CheckpointError::Body(format!("the tree size {line:?} is not a decimal number")));
    }
    line.parse().map_err(|_| CheckpointError::Body(format!("the tree size {line} is too large")))
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let bytes =
        BASE64.decode(line).map_err(|_| CheckpointError::Body(format!("the root hash {line:?} is not base64")))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        CheckpointError::Body(format!("the root hash is {} bytes long, not the 32 of SHA-256", bytes.len()))
    })
}

/// A key name: not empty, no white space, no `+` (the note rules).
fn check_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(CheckpointError::Key(format!("the key name {name:?} must be non-empty, without spaces or '+'")));
    }
    Ok(())
}

/// The 4-byte id of `name`'s Ed25519 public key.
fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let digest =
        Sha256::new().chain_update(name).chain_update([b'\n', ALG_ED25519]).chain_update(public.as_bytes()).finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Decodes `base64(0x01 ‖ 32 bytes)` of a key.
fn key_bytes(text: &str, what: &str) -> Result<[u8; 32], CheckpointError> {
    let bytes = BASE64.decode(text).map_err(|_| CheckpointError::Key(format!("the {what} is not base64")))?;
    match bytes.split_first() {
        Some((&ALG_ED25519, key)) => {
            key.try_into().map_err(|_| CheckpointError::Key(format!("the {what} is not 32 bytes long")))
        }
        Some((alg, _)) => Err(CheckpointError::Key(format!("the {what} is for algorithm {alg}, not Ed25519 (1)"))),
        None => Err(CheckpointError::Key(format!("the {what} is empty"))),
    }
}

/// Checks the `<hex key id>` part of a key against the id its name and public key give.
fn check_key_id(text: &str, name: &str, public: &VerifyingKey) -> Result<[u8; 4], CheckpointError> {
    let id = key_id(name, public);
    if text.len() != 8 || !text.eq_ignore_ascii_case(&hex::encode(id)) {
        return Err(CheckpointError::Key(format!(
            "the key id {text:?} is not {} (the id of this name and key)",
            hex::encode(id)
        )));
    }
    Ok(id)
}

/// The host's checkpoint signing key, with its name. Its Debug output names the key, never
/// the secret.
#[derive(Clone)]
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A signer named `name` from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<CheckpointSigner, CheckpointError> {
        check_name(name)?;
        Ok(CheckpointSigner { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// Reads a private key in the note form `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<CheckpointSigner, CheckpointError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or_else(|| CheckpointError::Key(format!("a private key starts with {PRIVATE_PREFIX}")))?;
        let [name, id, key] = split_key(rest, "PRIVATE+KEY+<name>+<hex key id>+<base64 key>")?;
        let signer = CheckpointSigner::from_seed(name, key_bytes(key, "private key")?)?;
        check_key_id(id, name, &signer.key.verifying_key())?;
        Ok(signer)
    }

    /// The private key in its note form, for the key file. A secret: never log it.
    pub fn private_key(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!("{PRIVATE_PREFIX}{}+{}+{}", self.name, self.key_id(), BASE64.encode(key))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as 8 hex digits.
    pub fn key_id(&self) -> String {
        hex::encode(key_id(&self.name, &self.key.verifying_key()))
    }

    /// The public key to publish, for auditors to verify checkpoints with.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier::new(&self.name, self.key.verifying_key())
    }

    /// The checkpoint of `size` entries with tree root `root`, as a signed note; its origin is
    /// the key's name.
    pub fn sign(&self, size: u64, root: Hash) -> String {
        self.sign_note(&Checkpoint { origin: self.name.clone(), size, root }.body())
    }

    /// `text` (ending in a newline) followed by a blank line and this key's signature line.
    fn sign_note(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut signed = key_id(&self.name, &self.key.verifying_key()).to_vec();
        signed.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(signed))
    }
}

/// Splits `<name>+<id>+<key>` into its three parts (base64 may itself hold `+`).
fn split_key<'a>(text: &'a str, form: &str) -> Result<[&'a str; 3], CheckpointError> {
    let parts: Vec<&str> = text.splitn(3, '+').collect();
    <[&str; 3]>::try_from(parts).map_err(|_| CheckpointError::Key(format!("expected {form}")))
}

/// A published verifier key: a name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl std::fmt::Display for CheckpointVerifier {
    /// The note form `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        write!(formatter, "{}+{}+{}", self.name, hex::encode(self.id), BASE64.encode(key))
    }
}

/// One signature line of a note.
struct NoteSignature {
    name: String,
    id: [u8; 4],
    signature: Vec<u8>,
}

impl CheckpointVerifier {
    fn new(name: &str, key: VerifyingKey) -> CheckpointVerifier {
        CheckpointVerifier { name: name.to_owned(), id: key_id(name, &key), key }
    }

    /// Reads a verifier key in the note form `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn parse(text: &str) -> Result<CheckpointVerifier, CheckpointError> {
        let [name, id, key] = split_key(text.trim(), "<name>+<hex key id>+<base64 key>")?;
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&key_bytes(key, "public key")?)
            .map_err(|_| CheckpointError::Key("the public key is not a valid Ed25519 point".to_owned()))?;
        check_key_id(id, name, &key)?;
        Ok(CheckpointVerifier::new(name, key))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as 8 hex digits.
    pub fn key_id(&self) -> String {
        hex::encode(self.id)
    }

    /// Checks this key's signature on a signed note and reads the checkpoint it signs.
    /// Signatures by other keys are ignored.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let (body, signatures) = open_note(note)?;
        let ours = signatures.iter().find(|signature| signature.name == self.name && signature.id == self.id);
        let Some(ours) = ours else {
            let found: Vec<String> = signatures
                .iter()
                .map(|signature| format!("{} ({})", signature.name, hex::encode(signature.id)))
                .collect();
            return Err(CheckpointError::NotSigned {
                name: self.name.clone(),
                key_id: self.key_id(),
                found: found.join(", "),
            });
        };
        let bad = || CheckpointError::BadSignature { name: self.name.clone(), key_id: self.key_id() };
        let signature = Signature::from_slice(&ours.signature).map_err(|_| bad())?;
        self.key.verify_strict(body.as_bytes(), &signature).map_err(|_| bad())?;
        Checkpoint::parse_body(body)
    }
}

fn note_error(problem: &str) -> CheckpointError {
    CheckpointError::Note(problem.to_owned())
}

/// Splits a signed note into its body (with its final newline) and its signature lines.
fn open_note(note: &str) -> Result<(&str, Vec<NoteSignature>), CheckpointError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(note_error("it is larger than 1 MiB"));
    }
    if note.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(note_error("it holds control characters other than newlines"));
    }
    let split = note.rfind("\n\n").ok_or_else(|| note_error("no blank line separates the text from its signatures"))?;
    let (body, signatures) = (&note[..=split], &note[split + 2..]);
    let lines = signatures
        .strip_suffix('\n')
        .ok_or_else(|| note_error("the signature block is empty or does not end with a newline"))?;
    let signatures = lines.split('\n').map(signature_line).collect::<Result<Vec<_>, _>>()?;
    if signatures.len() > MAX_SIGNATURES {
        return Err(note_error("it has more than 100 signatures"));
    }
    Ok((body, signatures))
}

/// One `— <name> <base64(key id ‖ signature)>` line.
fn signature_line(line: &str) -> Result<NoteSignature, CheckpointError> {
    let malformed = || CheckpointError::Note(format!("the signature line {line:?} is not `— <key name> <base64>`"));
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(malformed)?;
    let (name, encoded) = rest.split_once(' ').ok_or_else(malformed)?;
    let bytes = BASE64.decode(encoded).map_err(|_| malformed())?;
    if check_name(name).is_err() || bytes.len() < 5 {
        return Err(malformed());
    }
    let (id, signature) = bytes.split_at(4);
    Ok(NoteSignature { name: name.to_owned(), id: [id[0], id[1], id[2], id[3]], signature: signature.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed("ledger.example.com/levee", [7; 32]).unwrap()
    }

    fn root() -> Hash {
        crate::merkle::leaf_hash(b"the root")
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_reads_back() {
        let signer = signer();
        let note = signer.sign(42, root());
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[..3], ["ledger.example.com/levee", "42", BASE64.encode(root()).as_str()]);
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} ledger.example.com/levee "), "{note}");
        let checkpoint = signer.verifier().verify(&note).unwrap();
        assert_eq!(checkpoint, Checkpoint { origin: "ledger.example.com/levee".into(), size: 42, root: root() });
    }

    #[test]
    fn keys_round_trip_through_their_note_forms() {
        let signer = signer();
        let private = signer.private_key();
        assert!(private.starts_with(&format!("PRIVATE+KEY+ledger.example.com/levee+{}+", signer.key_id())));
        let read = CheckpointSigner::parse(&format!("{private}\n")).unwrap();
        assert_eq!(read.sign(1, root()), signer.sign(1, root()), "Ed25519 signatures are deterministic");
        let published = signer.verifier().to_string();
        assert_eq!(CheckpointVerifier::parse(&published).unwrap(), signer.verifier());
        let secret = private.splitn(5, '+').last().unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains(&signer.key_id()) && !debug.contains(secret), "Debug never shows the key: {debug}");
        assert!(!debug.contains(&hex::encode([7u8; 32])) && !debug.contains("7, 7, 7"), "{debug}");
    }

    /// The key id scheme of golang.org/x/mod/sumdb/note, checked by its own example: the
    /// verifier key `PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW`.
    #[test]
    fn the_key_id_matches_the_go_note_package() {
        let verifier = CheckpointVerifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
        assert_eq!(verifier.map(|verifier| verifier.key_id()), Ok("c74f20a3".to_owned()));
    }

    /// The signed note example of golang.org/x/mod/sumdb/note: its private key reads here,
    /// gives its verifier key, signs its text to the same note, and the note verifies.
    #[test]
    fn the_go_note_package_example_signs_and_verifies_the_same() {
        let signer =
            CheckpointSigner::parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
                .unwrap();
        let verifier = signer.verifier();
        assert_eq!(verifier.to_string(), "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = signer.sign_note(text);
        let expected = format!(
            "{text}\n\u{2014} PeterNeumann \
             x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        assert_eq!(note, expected);
        match verifier.verify(&note) {
            Err(CheckpointError::Body(_)) => {}
            other => panic!("the signature verifies, and the text is not a checkpoint: {other:?}"),
        }
    }

    #[test]
    fn a_wrong_key_is_named() {
        let note = signer().sign(3, root());
        let other = CheckpointSigner::from_seed("ledger.example.com/levee", [8; 32]).unwrap();
        match other.verifier().verify(&note) {
            Err(CheckpointError::NotSigned { name, found, .. }) => {
                assert_eq!(name, "ledger.example.com/levee");
                assert!(found.contains(&signer().key_id()), "{found}");
            }
            other => panic!("expected NotSigned, got {other:?}"),
        }
    }

    #[test]
    fn an_altered_checkpoint_does_not_verify() {
        let note = signer().sign(3, root());
        let altered = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(signer().verifier().verify(&altered), Err(CheckpointError::BadSignature { .. })));
    }

    #[test]
    fn malformed_notes_and_keys_are_named() {
        let verifier = signer().verifier();
        let unsigned = Checkpoint { origin: "o".into(), size: 1, root: root() }.body();
        assert!(matches!(verifier.verify(&unsigned), Err(CheckpointError::Note(_))));
        let bad_line = format!("{unsigned}\n- o abc\n");
        assert!(matches!(verifier.verify(&bad_line), Err(CheckpointError::Note(_))));
        assert!(matches!(CheckpointSigner::parse("o+1+2"), Err(CheckpointError::Key(_))));
        assert!(matches!(CheckpointSigner::from_seed("has space", [1; 32]), Err(CheckpointError::Key(_))));
        let published = signer().verifier().to_string();
        let wrong_id = published.replacen(&signer().key_id(), "00000000", 1);
        assert!(matches!(CheckpointVerifier::parse(&wrong_id), Err(CheckpointError::Key(_))));
    }

    #[test]
    fn checkpoint_bodies_are_checked() {
        let root64 = BASE64.encode(root());
        assert_eq!(Checkpoint::parse_body(&format!("o\n5\n{root64}\next\n")).map(|c| c.size), Ok(5));
        for body in [
            format!("o\n05\n{root64}\n"),
            format!("o\n-1\n{root64}\n"),
            format!("\n5\n{root64}\n"),
            "o\n5\nAAAA\n".to_owned(),
            format!("o\n5\n{root64}"),
            "o\n5\n".to_owned(),
        ] {
            assert!(matches!(Checkpoint::parse_body(&body), Err(CheckpointError::Body(_))), "{body:?}");
        }
    }
}
