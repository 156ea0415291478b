//! What one reader may see of a city: which components, and how grid
//! workers' names appear. Every read path asks the same [`Scoped`] view, so
//! a scope is applied once, here, and not checked in each handler.
//!
//! Grids themselves (their polygons, codes and names) are what the city is
//! divided into and are never scoped: lookups work anywhere for everybody.
//! What is scoped is what lies in them (components, and statistics of
//! components) and the personal data on them (grid workers' names).

use std::borrow::Cow;
use std::sync::OnceLock;

use geo::{BoundingRect, Rect};

use crate::model::GridId;
use crate::snapshot::{Snapshot, Stats};

/// How personal data (a grid worker's name) appears to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Personal {
    /// As recorded.
    Shown,
    /// The first character kept, the rest starred (`王*`, `欧阳**`).
    Masked,
    /// Left out (`null`).
    #[default]
    Withheld,
}

impl Personal {
    /// Every rule, as configuration names them.
    pub const ALL: [Personal; 3] = [Personal::Shown, Personal::Masked, Personal::Withheld];

    /// The rule's name: `shown`, `masked` or `withheld`.
    pub fn as_str(self) -> &'static str {
        match self {
            Personal::Shown => "shown",
            Personal::Masked => "masked",
            Personal::Withheld => "withheld",
        }
    }

    /// The rule named `s` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Personal> {
        Personal::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// `name` as this rule shows it.
    pub fn apply<'a>(self, name: &'a str) -> Option<Cow<'a, str>> {
        match self {
            Personal::Shown => Some(Cow::Borrowed(name)),
            Personal::Masked => Some(Cow::Owned(mask_name(name))),
            Personal::Withheld => None,
        }
    }
}

/// A person's name masked: the first character kept, each other one a `*`
/// (Chinese practice: `王芳` → `王*`, `欧阳娜娜` → `欧***`).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => std::iter::once(first)
            .chain(chars.map(|c| if c.is_whitespace() { c } else { '*' }))
            .collect(),
    }
}

/// Which components a reader may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Reach {
    /// Every component.
    #[default]
    All,
    /// None (a public reader where the public policy gives only grids).
    Nothing,
    /// Those in the unit grids whose worker is this one (a grid worker's own
    /// grids, as the grids' `worker` field records them).
    Worker(String),
    /// Those of these classes: 4-digit class codes or 2-digit major class
    /// codes (a department's).
    Classes(Vec<String>),
}

/// What one reader may see: the components in reach, and how the names of
/// workers other than the reader appear.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The components in reach.
    pub reach: Reach,
    /// How other workers' names appear.
    pub workers: Personal,
    /// The reader's own worker name, always shown to them.
    pub own: Option<String>,
}

impl Scope {
    /// Everything, as recorded (planners, admins, the command line).
    pub const EVERYTHING: Scope = Scope {
        reach: Reach::All,
        workers: Personal::Shown,
        own: None,
    };

    /// Masks the workers' names of recorded grid versions (a revision's
    /// diff, a grid's history) as this reader may see them.
    pub fn mask_versions(&self, versions: &mut [crate::store::GridVersion]) {
        for v in versions {
            v.worker = self.worker(v.worker.as_deref()).map(Cow::into_owned);
        }
    }

    /// Whether components are limited: answers that count or list them
    /// differ from the unscoped ones (and must not share their caches).
    pub fn limits_components(&self) -> bool {
        self.reach != Reach::All
    }

    /// A grid worker's name as this reader may see it (their own in full).
    pub fn worker<'n>(&self, name: Option<&'n str>) -> Option<Cow<'n, str>> {
        let name = name?;
        if self.own.as_deref() == Some(name) {
            return Some(Cow::Borrowed(name));
        }
        self.workers.apply(name)
    }
}

/// Component statistics as one reader sees them (see [`Scoped::stats`]).
#[derive(Debug)]
pub enum Counts<'a> {
    /// The snapshot's own: every component.
    All(&'a Stats),
    /// Those of the reader's components.
    Scoped(std::sync::Arc<Stats>),
}

impl std::ops::Deref for Counts<'_> {
    type Target = Stats;

    fn deref(&self) -> &Stats {
        match self {
            Counts::All(s) => s,
            Counts::Scoped(s) => s,
        }
    }
}

/// A snapshot as one reader may see it: the snapshot, the reader's scope,
/// and the scope resolved against the snapshot's grids and classes on
/// first use (a lookup, which asks only for names, never resolves it).
#[derive(Debug)]
pub struct Scoped<'a> {
    /// The snapshot read.
    pub snap: &'a Snapshot,
    scope: &'a Scope,
    /// The worker's unit grids, in id order ([`Reach::Worker`]).
    grids: OnceLock<Vec<GridId>>,
    /// Visible classes by dense index ([`Reach::Classes`]).
    classes: OnceLock<Vec<bool>>,
}

impl<'a> Scoped<'a> {
    /// `snap` as a reader with `scope` sees it.
    pub fn new(snap: &'a Snapshot, scope: &'a Scope) -> Scoped<'a> {
        Scoped {
            snap,
            scope,
            grids: OnceLock::new(),
            classes: OnceLock::new(),
        }
    }

    /// The worker's unit grids (empty for any other reach).
    fn worker_grids(&self) -> &[GridId] {
        self.grids.get_or_init(|| {
            let Reach::Worker(w) = &self.scope.reach else {
                return Vec::new();
            };
            let data = self.snap.data();
            let unit = data.scheme.finest();
            data.grids
                .iter()
                .enumerate()
                .filter(|(_, g)| {
                    !w.is_empty() && g.level == unit && g.worker.as_deref() == Some(w.as_str())
                })
                .map(|(i, _)| GridId::new(i as u32))
                .collect()
        })
    }

    /// Which classes (dense index) are in reach ([`Reach::Classes`]).
    fn visible_classes(&self) -> &[bool] {
        self.classes.get_or_init(|| {
            let Reach::Classes(codes) = &self.scope.reach else {
                return Vec::new();
            };
            self.snap
                .data()
                .classes
                .all()
                .iter()
                .map(|c| codes.iter().any(|k| *k == c.code || *k == c.major()))
                .collect()
        })
    }

    /// `snap` with nothing withheld.
    pub fn everything(snap: &'a Snapshot) -> Scoped<'a> {
        Scoped::new(snap, &Scope::EVERYTHING)
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        self.scope
    }

    /// Whether components of class `class` (dense index) may be seen at all.
    pub fn class(&self, class: u16) -> bool {
        match &self.scope.reach {
            Reach::All | Reach::Worker(_) => true,
            Reach::Nothing => false,
            Reach::Classes(_) => self
                .visible_classes()
                .get(class as usize)
                .copied()
                .unwrap_or(false),
        }
    }

    /// Whether component `i` (store order) may be seen.
    pub fn component(&self, i: usize) -> bool {
        match &self.scope.reach {
            Reach::All => true,
            Reach::Nothing => false,
            Reach::Classes(_) => self.class(self.snap.data().components.get(i).class()),
            Reach::Worker(_) => self
                .snap
                .unit_grid(i)
                .is_some_and(|g| self.worker_grids().binary_search(&g).is_ok()),
        }
    }

    /// Lon/lat boxes that hold every visible component, when the scope
    /// narrows them to a few places (a worker's grids): a query can take its
    /// candidates from them instead of the whole city.
    pub fn windows(&self) -> Option<Vec<Rect<f64>>> {
        match &self.scope.reach {
            Reach::Worker(_) => Some(
                self.worker_grids()
                    .iter()
                    .filter_map(|&g| self.snap.grid(g).geometry.bounding_rect())
                    .collect(),
            ),
            Reach::Nothing => Some(Vec::new()),
            Reach::All | Reach::Classes(_) => None,
        }
    }

    /// The components a query over `within` (a lon/lat box; `None`: the
    /// whole city) need look at: those in the box, narrowed to the scope's
    /// few places when it has them (a worker's grids, then in store order).
    /// Candidates only: [`Scoped::component`] still decides.
    pub fn candidates(&self, within: Option<Rect<f64>>) -> Box<dyn Iterator<Item = usize> + '_> {
        match (self.windows(), within) {
            (Some(places), within) => {
                let mut out: Vec<usize> = places
                    .into_iter()
                    .filter_map(|p| match within {
                        Some(w) => crate::index::intersect_rects(p, w),
                        None => Some(p),
                    })
                    .flat_map(|r| self.snap.components_in_box(r))
                    .collect();
                out.sort_unstable();
                out.dedup();
                Box::new(out.into_iter())
            }
            (None, Some(r)) => Box::new(self.snap.components_in_box(r).into_iter()),
            (None, None) => Box::new(0..self.snap.data().components.len()),
        }
    }

    /// The visible components, in store order.
    pub fn components(&self) -> Vec<usize> {
        self.candidates(None)
            .filter(|&i| self.component(i))
            .collect()
    }

    /// A grid worker's name as this reader may see it (their own in full).
    pub fn worker<'n>(&self, name: Option<&'n str>) -> Option<Cow<'n, str>> {
        self.scope.worker(name)
    }

    /// Component statistics of every grid as this reader may see them: the
    /// snapshot's own when every component is in reach, otherwise counted
    /// over the visible components once per snapshot and reach (kept by
    /// the snapshot for the next reads).
    pub fn stats(&self) -> Counts<'a> {
        if !self.scope.limits_components() {
            return Counts::All(self.snap.stats());
        }
        let key = format!("{:?}", self.scope.reach);
        Counts::Scoped(self.snap.stats_for(&key, || self.components()))
    }

    /// Components per class (dense index) over the whole city, of those
    /// this reader may see.
    pub fn class_totals(&self) -> Cow<'a, [u64]> {
        let all = &self.snap.stats().class_totals;
        match &self.scope.reach {
            Reach::All => Cow::Borrowed(all.as_slice()),
            Reach::Nothing => Cow::Owned(vec![0; all.len()]),
            Reach::Classes(_) => Cow::Owned(
                all.iter()
                    .enumerate()
                    .map(|(i, &n)| if self.class(i as u16) { n } else { 0 })
                    .collect(),
            ),
            Reach::Worker(_) => Cow::Owned(self.stats().class_totals.clone()),
        }
    }

    /// What a reader who is not shown something should be told, appended
    /// to a "not found" (it never says whether the thing exists).
    pub fn hint(&self) -> &'static str {
        match &self.scope.reach {
            Reach::All => "",
            Reach::Nothing => {
                " (components are not public on this server: send Authorization: Bearer TOKEN)"
            }
            Reach::Worker(_) => " (a worker's token reads the components of their own unit grids)",
            Reach::Classes(_) => " (a department's token reads the components of its classes)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_names_keep_only_the_first_character() {
        assert_eq!(mask_name("王芳"), "王*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("Li Ming"), "L* ****");
        assert_eq!(mask_name(""), "");
        assert_eq!(Personal::Withheld.apply("王芳"), None);
        assert_eq!(Personal::Shown.apply("王芳").as_deref(), Some("王芳"));
    }

    #[test]
    fn personal_rules_parse_from_their_names() {
        assert_eq!(Personal::parse("masked"), Some(Personal::Masked));
        assert_eq!(Personal::parse(" Withheld "), Some(Personal::Withheld));
        assert_eq!(Personal::parse("shown"), Some(Personal::Shown));
        assert_eq!(Personal::parse("yes"), None);
    }
}
