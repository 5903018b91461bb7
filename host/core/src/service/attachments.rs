//! Attachments levee stores: files uploaded to a pending case, kept content-addressed in the
//! store by the SHA-256 levee computes, linked to the case as *stored* evidence (a ledger entry),
//! and read back by the people the case is for (its requester, approvers, auditors, admins).

use crate::case::{self, Case, ValidEvidence};
use crate::evidence::{StoredFile, check_attachment};
use crate::identity::{Principal, Role};
use crate::ledger::sha256_hex;
use crate::service::{Cases, ServiceError};
use crate::validation::{FieldError, optional_text};

/// Who may read a case's stored files, besides its requester.
const FILE_READERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// A file as uploaded: its declared media type, name, optional description, and bytes.
pub struct Upload<'a> {
    pub media_type: &'a str,
    pub file_name: &'a str,
    pub description: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl Cases<'_> {
    /// Stores `upload` (if its media type is allowed and its bytes are of that type) under the
    /// SHA-256 levee computes, and links it to the pending case as stored evidence. The same
    /// bytes are kept once, whichever cases they are attached to.
    pub fn upload_attachment(
        &self,
        case_id: &str,
        actor: &Principal,
        upload: &Upload<'_>,
    ) -> Result<Case, ServiceError> {
        case::may_attach(&self.get(case_id)?, actor)?;
        let media_type = upload.media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        check_attachment(&media_type, upload.bytes).map_err(|reason| FieldError::new("body", reason))?;
        let file_name = file_name(upload.file_name)?;
        let description = optional_text("description", upload.description, 1000)?;
        let sha256 = sha256_hex(upload.bytes);
        // Written before the ledger entry that names it, so that no entry names a missing file.
        self.levee.store.set(&file_key(&sha256), upload.bytes)?;
        let file = StoredFile { media_type, size_bytes: upload.bytes.len() as u64, file_name };
        let evidence = ValidEvidence::stored_attachment(sha256, file, description);
        self.levee.transition(case_id, actor, |case, at| case::attach_evidence(case, actor, evidence.clone(), at))
    }

    /// A stored file of the case, with what levee recorded of it, for its requester, an
    /// approver, an auditor or an admin. Its bytes are checked against the recorded SHA-256.
    pub fn attachment(
        &self,
        case_id: &str,
        reader: &Principal,
        sha256: &str,
    ) -> Result<(StoredFile, Vec<u8>), ServiceError> {
        let case = self.get(case_id)?;
        if reader.actor != case.requester && !FILE_READERS.iter().any(|role| reader.has_role(*role)) {
            return Err(ServiceError::Forbidden(format!(
                "only case {case_id}'s requester, an approver, an auditor or an admin can read its files"
            )));
        }
        let sha256 = sha256.to_ascii_lowercase();
        if sha256.is_empty() {
            return Err(FieldError::new("sha256", "give the file's SHA-256: ?sha256=…").into());
        }
        let file = case
            .evidence
            .iter()
            .find(|evidence| evidence.sha256.as_deref() == Some(sha256.as_str()))
            .and_then(|evidence| evidence.stored.clone())
            .ok_or_else(|| ServiceError::NotFound(format!("stored file {sha256} of case {case_id}")))?;
        let bytes = self.levee.store.get(&file_key(&sha256))?.ok_or_else(|| {
            ServiceError::Integrity(format!("the stored file {sha256} of case {case_id} is missing from the store"))
        })?;
        if sha256_hex(&bytes) != sha256 {
            return Err(ServiceError::Integrity(format!(
                "the stored file {sha256} of case {case_id} no longer has that SHA-256: it was changed in the store"
            )));
        }
        Ok((file, bytes))
    }
}

/// Where a stored file's bytes are kept: by their SHA-256.
fn file_key(sha256: &str) -> String {
    format!("evidence/file/{sha256}")
}

/// A file name to show and to download as: 1 to 200 characters, no path, no control characters.
fn file_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    let plain = !name.is_empty()
        && name.chars().count() <= 200
        && !name.chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | '"'));
    if plain {
        Ok(name.to_owned())
    } else {
        Err(FieldError::new("name", "give the file's name: 1 to 200 characters, without / \\ \" or control characters"))
    }
}
