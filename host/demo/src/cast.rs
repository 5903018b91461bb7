//! Who acts in the seeded story: four teams of agents with their leads, the managers, finance
//! approvers and directors above them, comms reviewers, an admin, and the owners of the codes
//! that need fixing. They are `Principal` values with authority sourced `demo-seed`: they act
//! through the service directly and hold no tokens.

use levee_core::identity::{ApproverLevel, Authority, Principal, Role};

/// Where every seeded principal's authority comes from, as the ledger records it.
pub const SOURCE: &str = "demo-seed";

/// The lead who approves everything put to them within seconds.
pub const RUBBER_STAMPER: &str = "rudy.rubberstamp";

/// A support or billing team: who files its cases, who leads it, and how much it files.
pub struct Team {
    pub name: &'static str,
    /// Its share of all cases.
    pub share: f64,
    pub agents: Vec<Principal>,
    /// Indexes into `Cast::leads`.
    pub leads: Vec<usize>,
    /// Index into `Cast::managers`.
    pub manager: usize,
    /// Currencies it files in, with weights.
    pub currencies: &'static [(&'static str, f64)],
}

/// Everyone in the story.
pub struct Cast {
    pub teams: Vec<Team>,
    pub leads: Vec<Principal>,
    pub managers: Vec<Principal>,
    pub finance: Vec<Principal>,
    pub directors: Vec<Principal>,
    pub comms_reviewers: Vec<Principal>,
    pub admin: Principal,
}

/// (team, share of cases, agents, leads, manager, currencies)
type TeamRow =
    (&'static str, f64, &'static [&'static str], &'static [&'static str], usize, &'static [(&'static str, f64)]);

/// support-apac files as many cases as the larger teams with half the people: the team with
/// the clearly higher exception rate.
const TEAMS: &[TeamRow] = &[
    (
        "support-emea",
        0.26,
        &[
            "amelie.martin",
            "jonas.weber",
            "sofia.rossi",
            "liam.oconnor",
            "nina.kowalski",
            "pierre.dubois",
            "hana.novak",
        ],
        &["elena.lead", "erik.lead"],
        0,
        &[("EUR", 0.55), ("GBP", 0.25), ("USD", 0.20)],
    ),
    (
        "support-amer",
        0.30,
        &["jake.miller", "maria.garcia", "tyler.brooks", "aisha.johnson", "carlos.mendez", "emma.wilson", "noah.davis"],
        &["alma.lead", RUBBER_STAMPER],
        0,
        &[("USD", 0.96), ("EUR", 0.02), ("GBP", 0.02)],
    ),
    (
        "support-apac",
        0.32,
        &["wei.chen", "yuki.tanaka", "arjun.patel", "mei.lin"],
        &["priya.lead", "kenji.lead"],
        0,
        &[("USD", 0.88), ("GBP", 0.06), ("EUR", 0.06)],
    ),
    (
        "billing-ops",
        0.12,
        &["grace.kim", "omar.haddad", "lucy.evans"],
        &["bea.lead"],
        1,
        &[("USD", 0.72), ("EUR", 0.18), ("GBP", 0.10)],
    ),
];

/// Limits in minor units, the same in every currency (as the demo tokens hold them).
const LEAD_LIMIT: i64 = 100_000;
const MANAGER_LIMIT: i64 = 500_000;
const FINANCE_LIMIT: i64 = 2_500_000;
const DIRECTOR_LIMIT: i64 = 10_000_000;

impl Cast {
    /// The cast, with approval limits in each of `currencies`.
    pub fn new(currencies: &[String]) -> Cast {
        let approver = |actor: &str, team: &str, level, limit| {
            principal(actor, Role::Approver, team, Some(authority(level, limit, currencies)))
        };
        let mut leads = Vec::new();
        let teams = TEAMS
            .iter()
            .map(|&(name, share, agents, team_leads, manager, team_currencies)| {
                let first_lead = leads.len();
                leads.extend(team_leads.iter().map(|actor| approver(actor, name, ApproverLevel::Lead, LEAD_LIMIT)));
                Team {
                    name,
                    share,
                    agents: agents.iter().map(|actor| principal(actor, Role::Agent, name, None)).collect(),
                    leads: (first_lead..leads.len()).collect(),
                    manager,
                    currencies: team_currencies,
                }
            })
            .collect();
        Cast {
            teams,
            leads,
            managers: vec![
                approver("mara.manager", "support-ops", ApproverLevel::Manager, MANAGER_LIMIT),
                approver("owen.manager", "billing-ops", ApproverLevel::Manager, MANAGER_LIMIT),
            ],
            finance: vec![
                approver("felix.finance", "finance-ops", ApproverLevel::Finance, FINANCE_LIMIT),
                approver("fiona.finance", "finance-ops", ApproverLevel::Finance, FINANCE_LIMIT),
            ],
            directors: vec![
                approver("diana.director", "finance", ApproverLevel::Director, DIRECTOR_LIMIT),
                approver("dev.director", "operations", ApproverLevel::Director, DIRECTOR_LIMIT),
            ],
            comms_reviewers: vec![
                principal("cora.comms", Role::CommsReviewer, "customer-communications", None),
                principal("cal.comms", Role::CommsReviewer, "customer-communications", None),
            ],
            admin: principal("opal.admin", Role::Admin, "platform", None),
        }
    }

    /// The approvers at `level`.
    pub fn at_level(&self, level: ApproverLevel) -> &[Principal] {
        match level {
            ApproverLevel::Lead => &self.leads,
            ApproverLevel::Manager => &self.managers,
            ApproverLevel::Finance => &self.finance,
            ApproverLevel::Director => &self.directors,
        }
    }

    /// A member of the team that owns an exception code, who works its remediation items.
    pub fn owner(team: &str) -> Principal {
        let actor = match team {
            "sre" => "sam.sre".to_owned(),
            "growth" => "gwen.growth".to_owned(),
            "logistics" => "lars.logistics".to_owned(),
            other => format!("owner.{other}"),
        };
        principal(&actor, Role::Agent, team, None)
    }
}

fn principal(actor: &str, role: Role, team: &str, authority: Option<Authority>) -> Principal {
    Principal {
        actor: actor.to_owned(),
        roles: vec![role],
        team: team.to_owned(),
        authority,
        source: SOURCE.to_owned(),
    }
}

fn authority(level: ApproverLevel, limit: i64, currencies: &[String]) -> Authority {
    Authority { level, limits: currencies.iter().map(|currency| (currency.clone(), limit)).collect() }
}
