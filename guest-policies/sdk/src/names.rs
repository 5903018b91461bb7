//! The names policy params use for case kinds and approver levels, and serde types that
//! read them: kinds are "refund" | "credit" | "fee_waiver" | "write_off" | "override",
//! levels are "lead" | "manager" | "finance" | "director".

use alloc::string::String;
use serde::de::{Deserialize, Deserializer, Error as _};

use crate::{ApproverLevel, CaseKind};

/// Every case-kind name, in the order of the WIT enum.
pub const CASE_KIND_NAMES: &[&str] = &["refund", "credit", "fee_waiver", "write_off", "override"];

/// Every approver-level name, lowest first.
pub const APPROVER_LEVEL_NAMES: &[&str] = &["lead", "manager", "finance", "director"];

impl CaseKind {
    /// Every kind, in the order of the WIT enum.
    pub const ALL: [CaseKind; 5] =
        [CaseKind::Refund, CaseKind::Credit, CaseKind::FeeWaiver, CaseKind::WriteOff, CaseKind::Override];

    /// The snake_case name params use: `CaseKind::FeeWaiver.name() == "fee_waiver"`.
    pub fn name(self) -> &'static str {
        match self {
            CaseKind::Refund => "refund",
            CaseKind::Credit => "credit",
            CaseKind::FeeWaiver => "fee_waiver",
            CaseKind::WriteOff => "write_off",
            CaseKind::Override => "override",
        }
    }

    /// The kind with this snake_case name, if any.
    pub fn from_name(name: &str) -> Option<CaseKind> {
        CaseKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl ApproverLevel {
    /// The name params use: `ApproverLevel::Lead.name() == "lead"`.
    pub fn name(self) -> &'static str {
        match self {
            ApproverLevel::Lead => "lead",
            ApproverLevel::Manager => "manager",
            ApproverLevel::Finance => "finance",
            ApproverLevel::Director => "director",
        }
    }

    /// The level with this name, if any.
    pub fn from_name(name: &str) -> Option<ApproverLevel> {
        ApproverLevel::ALL.into_iter().find(|level| level.name() == name)
    }
}

/// A [`CaseKind`] written by name in params; deserializes from "refund", "fee_waiver", ...
/// and works as a map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KindName(pub CaseKind);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        CaseKind::from_name(&name).map(KindName).ok_or_else(|| D::Error::unknown_variant(&name, CASE_KIND_NAMES))
    }
}

/// An [`ApproverLevel`] written by name in params; deserializes from "lead", "manager",
/// "finance" or "director" and works as a map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LevelName(pub ApproverLevel);

impl<'de> Deserialize<'de> for LevelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ApproverLevel::from_name(&name)
            .map(LevelName)
            .ok_or_else(|| D::Error::unknown_variant(&name, APPROVER_LEVEL_NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::string::ToString;

    #[test]
    fn kind_names_round_trip() {
        for kind in CaseKind::ALL {
            assert_eq!(CaseKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(CaseKind::ALL.map(CaseKind::name), CASE_KIND_NAMES);
        assert_eq!(CaseKind::from_name("fee-waiver"), None);
    }

    #[test]
    fn level_names_round_trip() {
        for level in ApproverLevel::ALL {
            assert_eq!(ApproverLevel::from_name(level.name()), Some(level));
        }
        assert_eq!(ApproverLevel::ALL.map(ApproverLevel::name), APPROVER_LEVEL_NAMES);
    }

    #[test]
    fn names_deserialize_as_values_and_map_keys() {
        let levels: BTreeMap<LevelName, u32> = serde_json::from_str(r#"{"director": 2, "lead": 1}"#).unwrap();
        assert_eq!(levels.get(&LevelName(ApproverLevel::Lead)), Some(&1));
        let kind: KindName = serde_json::from_str(r#""write_off""#).unwrap();
        assert_eq!(kind, KindName(CaseKind::WriteOff));
    }

    #[test]
    fn unknown_names_are_rejected_with_the_expected_list() {
        let error = serde_json::from_str::<LevelName>(r#""boss""#).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("boss") && message.contains("director"), "{message}");
    }
}
