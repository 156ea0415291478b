//! What each role may read: the public policy (configuration) and the
//! scope of every other role, as a [`Scope`] the query layer applies.
//!
//! | role | components | other workers' names |
//! |---|---|---|
//! | `public` | all, or none (`--public grids`) | withheld by default (`--public-workers`) |
//! | `viewer` | all | shown |
//! | `worker` | those in their own unit grids | masked (their own shown) |
//! | `department` | those of its classes, city-wide | masked |
//! | `planner`, `admin` | all | shown |
//!
//! Grids, lookups and grid tiles are read by every role; `--public none`
//! asks a token for every read but the viewer's page and `/health`.

use super::{Principal, Role};
use crate::query::{Personal, Reach, Scope};

/// What a request without a token may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublicAccess {
    /// Nothing but the viewer's files, `/health` and `/api`: every read
    /// needs a token.
    None,
    /// Grids, lookups and grid tiles; no components.
    Grids,
    /// Grids and components.
    #[default]
    All,
}

impl PublicAccess {
    /// Parses `none`, `grids` or `all`.
    pub fn parse(s: &str) -> Option<PublicAccess> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(PublicAccess::None),
            "grids" => Some(PublicAccess::Grids),
            "all" => Some(PublicAccess::All),
            _ => None,
        }
    }
}

/// The read policy: what the public may read, and how it sees grid
/// workers' names. The default suits an intranet: grids and components
/// are public, workers' names are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// What a request without a token reads.
    pub public: PublicAccess,
    /// How grid workers' names appear to a request without a token.
    pub public_workers: Personal,
}

impl Policy {
    /// A policy that shows the public everything, workers' names included
    /// (a demonstration, or a city that publishes its workers).
    pub fn open() -> Policy {
        Policy {
            public: PublicAccess::All,
            public_workers: Personal::Shown,
        }
    }

    /// What `p` may read.
    pub fn scope(&self, p: &Principal) -> Scope {
        match p.role {
            Role::Public => Scope {
                reach: match self.public {
                    PublicAccess::All => Reach::All,
                    PublicAccess::Grids | PublicAccess::None => Reach::Nothing,
                },
                workers: self.public_workers,
                own: None,
            },
            Role::Viewer | Role::Planner | Role::Admin => Scope::EVERYTHING,
            Role::Worker => Scope {
                reach: Reach::Worker(p.worker.clone().unwrap_or_default()),
                workers: Personal::Masked,
                own: p.worker.clone(),
            },
            Role::Department => Scope {
                reach: Reach::Classes(p.classes.clone()),
                workers: Personal::Masked,
                own: None,
            },
        }
    }

    /// Whether a request without a token may read at all (beyond the
    /// viewer's files, `/health` and `/api`).
    pub fn public_reads(&self) -> bool {
        self.public != PublicAccess::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            role,
            worker: Some("王芳".into()),
            classes: vec!["01".into()],
            ..Principal::anonymous()
        }
    }

    #[test]
    fn each_role_gets_its_scope() {
        let policy = Policy::default();
        let public = policy.scope(&Principal::anonymous());
        assert_eq!(public.reach, Reach::All);
        assert_eq!(public.workers, Personal::Withheld);
        assert_eq!(policy.scope(&principal(Role::Viewer)), Scope::EVERYTHING);
        assert_eq!(policy.scope(&principal(Role::Admin)), Scope::EVERYTHING);
        let worker = policy.scope(&principal(Role::Worker));
        assert_eq!(worker.reach, Reach::Worker("王芳".into()));
        assert_eq!(worker.own.as_deref(), Some("王芳"));
        assert_eq!(worker.workers, Personal::Masked);
        let dept = policy.scope(&principal(Role::Department));
        assert_eq!(dept.reach, Reach::Classes(vec!["01".into()]));
    }

    #[test]
    fn a_grids_only_public_sees_no_components() {
        let policy = Policy {
            public: PublicAccess::Grids,
            ..Policy::default()
        };
        assert_eq!(policy.scope(&Principal::anonymous()).reach, Reach::Nothing);
        assert!(policy.public_reads());
        assert!(
            !Policy {
                public: PublicAccess::None,
                ..Policy::default()
            }
            .public_reads()
        );
        assert_eq!(PublicAccess::parse("Grids"), Some(PublicAccess::Grids));
        assert_eq!(PublicAccess::parse("some"), None);
    }
}
