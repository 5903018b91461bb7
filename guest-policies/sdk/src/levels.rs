//! Ordering of approver levels: lead < manager < finance < director.

use crate::ApproverLevel;

impl ApproverLevel {
    /// Every level, lowest first.
    pub const ALL: [ApproverLevel; 4] =
        [ApproverLevel::Lead, ApproverLevel::Manager, ApproverLevel::Finance, ApproverLevel::Director];

    /// 0 for lead up to 3 for director: a higher rank is a more senior approver.
    pub fn rank(self) -> u8 {
        match self {
            ApproverLevel::Lead => 0,
            ApproverLevel::Manager => 1,
            ApproverLevel::Finance => 2,
            ApproverLevel::Director => 3,
        }
    }

    /// The next level up; director, the highest, stays director.
    pub fn one_level_up(self) -> ApproverLevel {
        match self {
            ApproverLevel::Lead => ApproverLevel::Manager,
            ApproverLevel::Manager => ApproverLevel::Finance,
            ApproverLevel::Finance | ApproverLevel::Director => ApproverLevel::Director,
        }
    }

    /// Whether this is the highest level, which cannot escalate further.
    pub fn is_highest(self) -> bool {
        self == ApproverLevel::Director
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_ascend_from_lead_to_director() {
        let ranks = ApproverLevel::ALL.map(ApproverLevel::rank);
        assert_eq!(ranks, [0, 1, 2, 3]);
    }

    #[test]
    fn one_level_up_stops_at_director() {
        assert_eq!(ApproverLevel::Lead.one_level_up(), ApproverLevel::Manager);
        assert_eq!(ApproverLevel::Manager.one_level_up(), ApproverLevel::Finance);
        assert_eq!(ApproverLevel::Finance.one_level_up(), ApproverLevel::Director);
        assert_eq!(ApproverLevel::Director.one_level_up(), ApproverLevel::Director);
    }
}
