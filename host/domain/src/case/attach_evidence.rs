//! Attaching evidence to a pending case: by its requester, an approver, or an admin.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Case, Transition, TransitionError, advanced, require_pending};
use crate::evidence::{Evidence, EvidenceKind, StoredFile, stored_reference};
use crate::identity::{Principal, Role};
use crate::ledger::EventType;
use crate::validation::{FieldError, optional_text, required_text, sha256_hex};

/// A piece of evidence, as submitted (`POST /v1/cases/{id}/evidence`, or inline at submission).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRequest {
    #[schema(schema_with = attachable_kinds)]
    pub kind: EvidenceKind,
    /// Where it lives: a URL, a document id, a ticket comment id.
    #[schema(min_length = 1, max_length = 2048, pattern = r"\S")]
    pub reference: String,
    /// SHA-256 of the content, 64 hex digits.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// The evidence kinds a request may attach: every kind but `customer_comms`.
fn attachable_kinds() -> utoipa::openapi::Object {
    let names = EvidenceKind::ALL
        .into_iter()
        .filter(|kind| *kind != EvidenceKind::CustomerComms)
        .filter_map(|kind| serde_json::to_value(kind).ok());
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(names))
        .description(Some(
            "Any kind but `customer_comms`, which is linked by the review of the case's customer message",
        ))
        .build()
}

/// Evidence that passed validation, not yet stamped with who added it and when.
#[derive(Debug, Clone)]
pub struct ValidEvidence {
    kind: EvidenceKind,
    reference: String,
    sha256: Option<String>,
    description: Option<String>,
    stored: Option<StoredFile>,
}

impl EvidenceRequest {
    pub fn validate(&self, field: &str) -> Result<ValidEvidence, FieldError> {
        if self.kind == EvidenceKind::CustomerComms {
            return Err(FieldError::new(
                format!("{field}.kind"),
                "customer comms are linked by review: draft the message (POST /v1/cases/{id}/comms) and have a \
                 comms reviewer approve it",
            ));
        }
        Ok(ValidEvidence {
            kind: self.kind,
            reference: required_text(&format!("{field}.reference"), &self.reference, 2048)?,
            sha256: sha256_hex(&format!("{field}.sha256"), self.sha256.as_deref())?,
            description: optional_text(&format!("{field}.description"), self.description.as_deref(), 1000)?,
            stored: None,
        })
    }
}

impl ValidEvidence {
    /// An attachment whose file levee keeps: `sha256` is levee's own hash of the bytes.
    pub fn stored_attachment(sha256: String, file: StoredFile, description: Option<String>) -> ValidEvidence {
        ValidEvidence {
            kind: EvidenceKind::Attachment,
            reference: stored_reference(&sha256),
            sha256: Some(sha256),
            description,
            stored: Some(file),
        }
    }

    pub fn kind(&self) -> EvidenceKind {
        self.kind
    }

    pub fn into_evidence(self, added_by: &str, added_at: DateTime<Utc>) -> Evidence {
        Evidence {
            kind: self.kind,
            reference: self.reference,
            sha256: self.sha256,
            description: self.description,
            added_by: added_by.to_owned(),
            added_at,
            stored: self.stored,
        }
    }
}

/// Whether `actor` may attach evidence to `case`: its requester, an approver or an admin, while
/// it is pending. Asked before a file is even looked at.
pub fn may_attach(case: &Case, actor: &Principal) -> Result<(), TransitionError> {
    let may_attach = actor.actor == case.requester || actor.has_role(Role::Approver) || actor.has_role(Role::Admin);
    if !may_attach {
        return Err(TransitionError::Forbidden(format!(
            "only the requester, an approver or an admin can attach evidence to case {}",
            case.id
        )));
    }
    require_pending(case, "given more evidence").map(|_| ())
}

pub fn attach_evidence(
    case: &Case,
    actor: &Principal,
    evidence: ValidEvidence,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    may_attach(case, actor)?;
    let evidence = evidence.into_evidence(&actor.actor, at);
    let mut next = advanced(case, at);
    next.evidence.push(evidence.clone());
    let payload = serde_json::json!({"evidence": evidence, "missing_evidence": next.missing_evidence()});
    Ok(Transition { case: next, event: EventType::EvidenceAttached, authority: None, payload })
}
