//! Evidence: what a case carries to justify it, and the kinds a decision can require.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Kinds of evidence. Mirrors `evidence-kind` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The requester's written reason (the case's rationale counts).
    Rationale,
    /// A document: screenshot, invoice, chat transcript.
    Attachment,
    /// A reviewed customer-impact message.
    CustomerComms,
    /// A record from the order system.
    OrderRecord,
    /// A record from the payment processor.
    PaymentRecord,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 5] = [
        EvidenceKind::Rationale,
        EvidenceKind::Attachment,
        EvidenceKind::CustomerComms,
        EvidenceKind::OrderRecord,
        EvidenceKind::PaymentRecord,
    ];
}

/// A piece of evidence linked to a case: *stored* when levee holds the file (uploaded to it,
/// `stored` says what levee kept and `sha256` is levee's own hash of the bytes), otherwise
/// *asserted*: a reference, and a hash if the person gave one, that levee cannot check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// Where it lives: a URL, a document id, a ticket comment id; for a stored file,
    /// `levee:attachment/<sha256>`.
    pub reference: String,
    /// SHA-256 of the content (lowercase hex), so the ledger pins exactly what was seen.
    pub sha256: Option<String>,
    pub description: Option<String>,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    /// The file levee keeps, for stored evidence; absent for asserted evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredFile>,
}

/// What levee knows of a file it keeps: its media type (from the allowlist), size and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredFile {
    pub media_type: String,
    pub size_bytes: u64,
    pub file_name: String,
}

/// How a stored file is referred to: by its SHA-256.
pub fn stored_reference(sha256: &str) -> String {
    format!("levee:attachment/{sha256}")
}

/// The kinds in `required` that `present` lacks.
pub fn missing(required: &BTreeSet<EvidenceKind>, present: &BTreeSet<EvidenceKind>) -> Vec<EvidenceKind> {
    required.difference(present).copied().collect()
}

/// The wire name of an evidence kind.
pub fn evidence_name(kind: &EvidenceKind) -> String {
    serde_json::to_value(kind).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The largest file levee stores as an attachment, in bytes (below the upload limit, so that an
/// oversized file is refused by name).
pub const MAX_ATTACHMENT_BYTES: usize = 4 << 20;

/// The media types levee stores, and how a file of each must begin (`None`: text, which must be
/// UTF-8). A file is stored only if its bytes are what its declared type says.
const ATTACHMENT_TYPES: [(&str, Option<&[u8]>); 8] = [
    ("application/pdf", Some(b"%PDF-")),
    ("image/png", Some(b"\x89PNG\r\n\x1a\n")),
    ("image/jpeg", Some(b"\xff\xd8\xff")),
    ("image/gif", Some(b"GIF8")),
    ("text/plain", None),
    ("text/csv", None),
    ("application/json", None),
    ("message/rfc822", None),
];

/// The media types an attachment may have.
pub fn attachment_media_types() -> Vec<&'static str> {
    ATTACHMENT_TYPES.iter().map(|(media_type, _)| *media_type).collect()
}

/// Why a file cannot be stored as an attachment: its declared media type (`media_type`, without
/// parameters such as `; charset=utf-8`) is not allowed, or its bytes are not of that type, or
/// it is empty or too large.
pub fn check_attachment(media_type: &str, bytes: &[u8]) -> Result<(), String> {
    let Some((_, magic)) = ATTACHMENT_TYPES.iter().find(|(allowed, _)| *allowed == media_type) else {
        return Err(format!(
            "{media_type:?} is not a media type levee stores ({})",
            attachment_media_types().join(", ")
        ));
    };
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(format!("the file is {} bytes, over the limit of {MAX_ATTACHMENT_BYTES}", bytes.len()));
    }
    let matches = match magic {
        Some(magic) => bytes.starts_with(magic),
        None => std::str::from_utf8(bytes).is_ok(),
    };
    if !matches {
        return Err(format!("the file's bytes are not {media_type}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_is_stored_only_as_what_its_bytes_are() {
        assert_eq!(check_attachment("application/pdf", b"%PDF-1.7 ..."), Ok(()));
        assert_eq!(check_attachment("text/plain", "receipt: 40.00 USD".as_bytes()), Ok(()));
        assert!(check_attachment("image/png", b"%PDF-1.7").unwrap_err().contains("not image/png"));
        assert!(check_attachment("text/html", b"<script>").unwrap_err().contains("not a media type levee stores"));
        assert!(check_attachment("text/plain", &[0xff, 0xfe]).is_err());
        assert_eq!(check_attachment("text/plain", b""), Err("the file is empty".to_owned()));
    }
}
