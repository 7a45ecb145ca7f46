//! Plans, their seat limits and feature gates.

use crate::{Error, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanTier {
    Free,
    Core,
    Grow,
    Pro,
    Enterprise,
}

/// A capability a plan may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    CustomUserTypes,
    Branches,
    /// SCIM provisioning and SAML single sign-on.
    IdentityIntegration,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::CustomUserTypes => "custom user types",
            Feature::Branches => "branches",
            Feature::IdentityIntegration => "SCIM and SAML single sign-on",
        })
    }
}

impl PlanTier {
    pub const ALL: [PlanTier; 5] = [
        PlanTier::Free,
        PlanTier::Core,
        PlanTier::Grow,
        PlanTier::Pro,
        PlanTier::Enterprise,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlanTier::Free => "free",
            PlanTier::Core => "core",
            PlanTier::Grow => "grow",
            PlanTier::Pro => "pro",
            PlanTier::Enterprise => "enterprise",
        }
    }
    pub fn parse(s: &str) -> Result<PlanTier> {
        let k = s.trim().to_ascii_lowercase();
        PlanTier::ALL.into_iter().find(|p| p.name() == k).ok_or_else(|| {
            Error::invalid(
                "plan",
                format!("unknown plan '{s}'; plans: free, core, grow, pro, enterprise"),
            )
        })
    }
    /// The preset seat count; `None` for enterprise, whose seats are bought one by one.
    pub fn preset_seats(self) -> Option<i64> {
        match self {
            PlanTier::Free => Some(5),
            PlanTier::Core => Some(100),
            PlanTier::Grow => Some(500),
            PlanTier::Pro => Some(1000),
            PlanTier::Enterprise => None,
        }
    }
    pub fn includes(self, _feature: Feature) -> bool {
        // Every gated feature is in every paid plan; the free plan has none of them.
        self != PlanTier::Free
    }

    /// The seat limit for `plan set TIER [--seats N]`.
    pub fn seat_limit(self, seats: Option<i64>) -> Result<i64> {
        match (self.preset_seats(), seats) {
            (Some(n), None) => Ok(n),
            (Some(n), Some(s)) if s == n => Ok(n),
            (Some(n), Some(_)) => Err(Error::invalid(
                "seats",
                format!("the {} plan has {n} seats; --seats is only for enterprise", self.name()),
            )),
            (None, Some(s)) if (1..=10_000_000).contains(&s) => Ok(s),
            (None, Some(_)) => Err(Error::invalid(
                "seats",
                "an enterprise plan has between 1 and 10,000,000 seats",
            )),
            (None, None) => Err(Error::invalid("seats", "an enterprise plan needs --seats N")),
        }
    }
}

/// The plan in force and the seats in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanState {
    pub tier: PlanTier,
    pub seat_limit: i64,
    pub seats_used: i64,
}

impl PlanState {
    pub fn require(&self, feature: Feature) -> Result<()> {
        if self.tier.includes(feature) {
            Ok(())
        } else {
            Err(Error::PlanFeatureUnavailable {
                plan: self.tier.name().into(),
                feature: feature.to_string(),
            })
        }
    }
    pub fn seats_free(&self) -> i64 {
        (self.seat_limit - self.seats_used).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        assert_eq!(PlanTier::Free.seat_limit(None).unwrap(), 5);
        assert_eq!(PlanTier::Core.seat_limit(None).unwrap(), 100);
        assert_eq!(PlanTier::Grow.seat_limit(None).unwrap(), 500);
        assert_eq!(PlanTier::Pro.seat_limit(None).unwrap(), 1000);
        assert_eq!(PlanTier::Enterprise.seat_limit(Some(2500)).unwrap(), 2500);
        assert!(PlanTier::Enterprise.seat_limit(None).is_err());
        assert!(PlanTier::Enterprise.seat_limit(Some(0)).is_err());
        assert!(PlanTier::Core.seat_limit(Some(7)).is_err());
        assert_eq!(PlanTier::parse("GROW").unwrap(), PlanTier::Grow);
        assert!(PlanTier::parse("platinum").is_err());
    }

    #[test]
    fn free_plan_gates_features() {
        let free = PlanState {
            tier: PlanTier::Free,
            seat_limit: 5,
            seats_used: 5,
        };
        for f in [
            Feature::CustomUserTypes,
            Feature::Branches,
            Feature::IdentityIntegration,
        ] {
            assert_eq!(free.require(f).unwrap_err().code(), "plan_feature_unavailable");
        }
        let core = PlanState {
            tier: PlanTier::Core,
            seat_limit: 100,
            seats_used: 3,
        };
        assert!(core.require(Feature::CustomUserTypes).is_ok());
        assert_eq!(core.seats_free(), 97);
        assert_eq!(free.seats_free(), 0);
    }
}
