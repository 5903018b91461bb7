//! Customer-impact communications. When a decision requires customer comms, the case cannot be
//! approved until a message to the customer has been drafted (from its code's template, or
//! written), reviewed and approved by a second person holding the comms-reviewer role, and
//! linked to the case as `customer_comms` evidence pinned by the sha256 of its text. The text
//! itself is kept on the case and in the ledger, so an auditor can read what was approved.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Case, Transition, TransitionError, advanced, require_pending};
use crate::evidence::{Evidence, EvidenceKind};
use crate::identity::{Principal, Role};
use crate::ledger::{EventType, sha256_hex};
use crate::validation::{optional_text, whole_number};

/// The longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// The message drafted for the customer, and its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerMessage {
    /// 1 for the first draft, then one more per redraft.
    pub draft: u32,
    pub text: String,
    /// SHA-256 of `text` (UTF-8), lowercase hex.
    pub sha256: String,
    pub drafted_by: String,
    pub drafted_at: DateTime<Utc>,
    /// Whether the text came from the code's template.
    pub from_template: bool,
    pub review: Option<CommsReview>,
}

/// A comms reviewer's verdict on a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommsReview {
    pub by: String,
    pub at: DateTime<Utc>,
    pub approved: bool,
    pub note: String,
}

/// `POST /v1/cases/{id}/comms`: draft (or redraft) the message; without `text`, from the
/// code's template.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    /// The message; absent or blank: drafted from the exception code's template.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub text: Option<String>,
}

/// `POST /v1/cases/{id}/comms/review`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The draft number reviewed: if another draft has replaced it since, the review is
    /// refused (409), so no one approves words they did not read.
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1)]
    pub draft: u32,
    /// Approve the draft as written, or send it back.
    pub approve: bool,
    /// At most 2,000 characters; sending a draft back needs one that is not blank.
    #[schema(max_length = 2000)]
    pub note: String,
}

/// Drafts the message for a pending case: its requester, an approver or an admin. A redraft
/// replaces a draft that was not approved yet.
pub fn draft_comms(
    case: &Case,
    actor: &Principal,
    request: &DraftRequest,
    template: &str,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let may_draft = actor.actor == case.requester || actor.has_role(Role::Approver) || actor.has_role(Role::Admin);
    if !may_draft {
        return Err(TransitionError::Forbidden(format!(
            "only the requester, an approver or an admin can draft case {}'s customer message",
            case.id
        )));
    }
    require_pending(case, "given a customer message")?;
    if case.comms.as_ref().is_some_and(|message| message.review.as_ref().is_some_and(|review| review.approved)) {
        return Err(TransitionError::WrongState(format!("case {}'s customer message is already approved", case.id)));
    }
    let written = optional_text("text", request.text.as_deref(), MAX_MESSAGE_CHARS)
        .map_err(|error| TransitionError::refused("invalid_message", error.to_string()))?;
    let from_template = written.is_none();
    let text = written.unwrap_or_else(|| render(template, case));
    let message = CustomerMessage {
        draft: case.comms.as_ref().map_or(1, |message| message.draft + 1),
        sha256: sha256_hex(text.as_bytes()),
        text,
        drafted_by: actor.actor.clone(),
        drafted_at: at,
        from_template,
        review: None,
    };
    let mut next = advanced(case, at);
    next.comms = Some(message.clone());
    let payload = serde_json::json!({"message": message});
    Ok(Transition { case: next, event: EventType::CommsDrafted, authority: None, payload })
}

/// Reviews the draft: a comms reviewer who did not draft it. Approving links the message as
/// `customer_comms` evidence.
pub fn review_comms(
    case: &Case,
    reviewer: &Principal,
    request: &ReviewRequest,
    at: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    if !reviewer.has_role(Role::CommsReviewer) {
        return Err(TransitionError::Forbidden(format!("{} does not hold the comms-reviewer role", reviewer.actor)));
    }
    require_pending(case, "given a reviewed customer message")?;
    let Some(message) = case.comms.as_ref().filter(|message| message.review.is_none()) else {
        return Err(TransitionError::WrongState(format!("case {} has no customer message awaiting review", case.id)));
    };
    if message.draft != request.draft {
        return Err(TransitionError::WrongState(format!(
            "draft {} of case {}'s customer message is the one awaiting review, not draft {}: read it and review again",
            message.draft, case.id, request.draft
        )));
    }
    if message.drafted_by == reviewer.actor {
        return Err(TransitionError::refused(
            "comms_self_review",
            format!("{} drafted this message; a second person must review it", reviewer.actor),
        ));
    }
    let note = optional_text("note", Some(&request.note), 2_000)
        .map_err(|error| TransitionError::refused("invalid_note", error.to_string()))?
        .unwrap_or_default();
    if !request.approve && note.is_empty() {
        return Err(TransitionError::refused("rationale_required", "say what to change: note must not be empty"));
    }
    let mut reviewed = message.clone();
    reviewed.review = Some(CommsReview { by: reviewer.actor.clone(), at, approved: request.approve, note });
    let mut next = advanced(case, at);
    if request.approve {
        next.evidence.push(Evidence {
            kind: EvidenceKind::CustomerComms,
            reference: format!("levee:comms/{}/draft-{}", case.id, reviewed.draft),
            sha256: Some(reviewed.sha256.clone()),
            description: Some(format!("customer message reviewed and approved by {}", reviewer.actor)),
            added_by: reviewer.actor.clone(),
            added_at: at,
            stored: None,
        });
    }
    next.comms = Some(reviewed.clone());
    let payload = serde_json::json!({"message": reviewed, "missing_evidence": next.missing_evidence()});
    Ok(Transition { case: next, event: EventType::CommsReviewed, authority: None, payload })
}

/// Fills a template's placeholders: `{case_id}`, `{amount}`, `{kind}`, `{customer_ref}`,
/// `{order_ref}`, `{code}`.
pub fn render(template: &str, case: &Case) -> String {
    let kind = serde_json::to_value(case.kind).ok().and_then(|kind| kind.as_str().map(str::to_owned));
    template
        .replace("{case_id}", &case.id)
        .replace("{amount}", &case.amount.to_string())
        .replace("{kind}", &kind.unwrap_or_default().replace('_', " "))
        .replace("{customer_ref}", &case.customer_ref)
        .replace("{order_ref}", case.order_ref.as_deref().unwrap_or("your order"))
        .replace("{code}", &case.exception_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, pending_case, principal};

    fn reviewer(actor: &str) -> Principal {
        principal(actor, Role::CommsReviewer, None, 0)
    }

    #[test]
    fn a_draft_from_the_template_is_approved_by_a_second_person_and_linked() {
        let agent = principal("avery", Role::Agent, None, 0);
        let case = pending_case("LV-1");
        let drafted = draft_comms(&case, &agent, &DraftRequest::default(), "We refunded {amount} ({case_id}).", at())
            .unwrap()
            .case;
        let message = drafted.comms.clone().unwrap();
        assert_eq!(message.text, "We refunded 400.00 USD (LV-1).");
        assert_eq!(message.sha256, sha256_hex(message.text.as_bytes()));
        let stale = ReviewRequest { draft: 2, approve: true, note: String::new() };
        assert!(matches!(
            review_comms(&drafted, &reviewer("casey"), &stale, at()),
            Err(TransitionError::WrongState(_))
        ));
        let approve = ReviewRequest { draft: 1, approve: true, note: String::new() };
        let reviewed = review_comms(&drafted, &reviewer("casey"), &approve, at()).unwrap().case;
        let linked = reviewed.evidence.last().unwrap();
        assert_eq!(
            (linked.kind, linked.sha256.as_deref()),
            (EvidenceKind::CustomerComms, Some(message.sha256.as_str()))
        );
    }

    #[test]
    fn a_self_review_is_refused_and_a_rejection_needs_a_note() {
        let drafter = principal("casey", Role::CommsReviewer, None, 0);
        let mut admin = drafter.clone();
        admin.roles.push(Role::Admin);
        let case = pending_case("LV-1");
        let drafted = draft_comms(&case, &admin, &DraftRequest { text: Some("Hi".into()) }, "", at()).unwrap().case;
        let approve = ReviewRequest { draft: 1, approve: true, note: String::new() };
        assert!(matches!(
            review_comms(&drafted, &drafter, &approve, at()),
            Err(TransitionError::Refused { rule: "comms_self_review", .. })
        ));
        let send_back = ReviewRequest { draft: 1, approve: false, note: " ".into() };
        assert!(review_comms(&drafted, &reviewer("rae"), &send_back, at()).is_err());
        let agent = principal("amy", Role::Agent, None, 0);
        assert!(matches!(review_comms(&drafted, &agent, &approve, at()), Err(TransitionError::Forbidden(_))));
    }
}
