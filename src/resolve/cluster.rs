//! Clustering: records joined by links become one customer, within the
//! stewards' constraints.
//!
//! Must-links (a steward said "same") are joined first. Then automatic links
//! are joined strongest first. A join that would put two records a steward
//! kept apart (a cannot-link) into one cluster is refused: each component
//! keeps the set of records it may not contain, so the check costs the size
//! of the smaller set. A join that would grow a cluster past the size cap is
//! not made either; the link is flagged for a steward instead, because a
//! giant cluster is almost always a chain of weak links, not one customer.
//!
//! The output depends only on the input: links are ordered by weight and
//! then by record ids before any join.

use serde::Serialize;

/// A link between two records, with its match weight (deterministic links
/// carry `f64::INFINITY` so they are joined first).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Link {
    /// One record.
    pub a: u32,
    /// The other record.
    pub b: u32,
    /// Match weight; higher joins earlier.
    pub weight: f64,
}

/// Steward constraints on pairs of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Pairs that are one customer, whatever the score.
    pub must_link: Vec<(u32, u32)>,
    /// Pairs that may never be in one cluster.
    pub cannot_link: Vec<(u32, u32)>,
}

/// The clusters and every join that was not made.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Per record, its cluster's label: the smallest record id in the cluster.
    pub labels: Vec<u32>,
    /// Links refused because they would join cannot-linked records.
    pub refused: Vec<Link>,
    /// Links not made because the cluster would exceed the size cap.
    pub flagged: Vec<Link>,
    /// Must-links that contradict a cannot-link (the stewards disagree with
    /// themselves); not applied.
    pub conflicts: Vec<(u32, u32)>,
}

impl Clustering {
    /// Clusters as sorted member lists, ordered by smallest member;
    /// singletons included.
    pub fn members(&self) -> Vec<Vec<u32>> {
        let mut order: Vec<(u32, u32)> = self
            .labels
            .iter()
            .enumerate()
            .map(|(record, &label)| (label, record as u32))
            .collect();
        order.sort_unstable();
        order
            .chunk_by(|a, b| a.0 == b.0)
            .map(|group| group.iter().map(|&(_, record)| record).collect())
            .collect()
    }
}

/// Union-find with union by size and a per-component list of records the
/// component must never contain.
struct Components {
    parent: Vec<u32>,
    size: Vec<u32>,
    forbidden: Vec<Vec<u32>>,
}

enum Join {
    Joined,
    Already,
    Forbidden,
    TooLarge,
}

impl Components {
    fn new(count: usize, cannot_link: &[(u32, u32)]) -> Components {
        let mut forbidden = vec![Vec::new(); count];
        for &(a, b) in cannot_link {
            if a != b {
                forbidden[a as usize].push(b);
                forbidden[b as usize].push(a);
            }
        }
        Components {
            parent: (0..count as u32).collect(),
            size: vec![1; count],
            forbidden,
        }
    }

    fn find(&mut self, mut item: u32) -> u32 {
        while self.parent[item as usize] != item {
            let grandparent = self.parent[self.parent[item as usize] as usize];
            self.parent[item as usize] = grandparent;
            item = grandparent;
        }
        item
    }

    fn join(&mut self, a: u32, b: u32, max_size: Option<usize>) -> Join {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return Join::Already;
        }
        if let Some(max) = max_size {
            if (self.size[a as usize] + self.size[b as usize]) as usize > max {
                return Join::TooLarge;
            }
        }
        // Check the shorter list: cannot-links are recorded on both sides.
        let (check, other) = if self.forbidden[a as usize].len() <= self.forbidden[b as usize].len()
        {
            (a, b)
        } else {
            (b, a)
        };
        let forbidden = std::mem::take(&mut self.forbidden[check as usize]);
        let clash = forbidden.iter().any(|&record| self.find(record) == other);
        self.forbidden[check as usize] = forbidden;
        if clash {
            return Join::Forbidden;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
        let moved = std::mem::take(&mut self.forbidden[b as usize]);
        self.forbidden[a as usize].extend(moved);
        Join::Joined
    }
}

/// Clusters `count` records from `links` under `constraints`; auto-links may
/// form clusters of at most `max_cluster_size` records (must-links are
/// steward decisions and are not capped).
pub fn cluster(
    count: usize,
    links: &[Link],
    constraints: &Constraints,
    max_cluster_size: usize,
) -> Clustering {
    let mut components = Components::new(count, &constraints.cannot_link);
    let mut conflicts = Vec::new();
    let mut must_link: Vec<(u32, u32)> = constraints
        .must_link
        .iter()
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    must_link.sort_unstable();
    must_link.dedup();
    for (a, b) in must_link {
        if let Join::Forbidden = components.join(a, b, None) {
            conflicts.push((a, b));
        }
    }

    let mut ordered: Vec<Link> = links.to_vec();
    ordered.sort_by(|x, y| {
        y.weight
            .total_cmp(&x.weight)
            .then((x.a.min(x.b), x.a.max(x.b)).cmp(&(y.a.min(y.b), y.a.max(y.b))))
    });
    let mut refused = Vec::new();
    let mut flagged = Vec::new();
    for link in ordered {
        match components.join(link.a, link.b, Some(max_cluster_size)) {
            Join::Joined | Join::Already => {}
            Join::Forbidden => refused.push(link),
            Join::TooLarge => flagged.push(link),
        }
    }

    // Label each cluster by its smallest member.
    let mut smallest = vec![u32::MAX; count];
    let roots: Vec<u32> = (0..count as u32)
        .map(|record| components.find(record))
        .collect();
    for (record, &root) in roots.iter().enumerate() {
        let slot = &mut smallest[root as usize];
        *slot = (*slot).min(record as u32);
    }
    Clustering {
        labels: roots.iter().map(|&root| smallest[root as usize]).collect(),
        refused,
        flagged,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn link(a: u32, b: u32, weight: f64) -> Link {
        Link { a, b, weight }
    }

    #[test]
    fn strongest_links_join_first_and_a_cannot_link_refuses_the_weaker() {
        // 0-1 strong, 1-2 weaker; a steward kept 0 and 2 apart.
        let links = [link(1, 2, 5.0), link(0, 1, 9.0)];
        let constraints = Constraints {
            must_link: vec![],
            cannot_link: vec![(2, 0)],
        };
        let clustering = cluster(4, &links, &constraints, 10);
        assert_eq!(clustering.labels, vec![0, 0, 2, 3]);
        assert_eq!(clustering.refused, vec![link(1, 2, 5.0)]);
        assert!(clustering.flagged.is_empty());
    }

    #[test]
    fn must_links_join_and_contradictions_are_reported() {
        let constraints = Constraints {
            must_link: vec![(3, 1), (1, 2)],
            cannot_link: vec![(3, 2)],
        };
        let clustering = cluster(4, &[], &constraints, 2);
        // (1,2) is applied first (pairs in id order), so (1,3) contradicts.
        assert_eq!(clustering.labels, vec![0, 1, 1, 3]);
        assert_eq!(clustering.conflicts, vec![(1, 3)]);
    }

    #[test]
    fn links_that_would_exceed_the_cap_are_flagged_not_formed() {
        let links = [link(0, 1, 3.0), link(1, 2, 2.0), link(2, 3, 1.0)];
        let clustering = cluster(4, &links, &Constraints::default(), 2);
        assert_eq!(clustering.labels, vec![0, 0, 2, 2]);
        assert_eq!(clustering.flagged, vec![link(1, 2, 2.0)]);
        assert_eq!(clustering.members(), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn the_order_of_links_does_not_change_the_result() {
        let links = vec![
            link(0, 1, 1.0),
            link(2, 1, 1.0),
            link(0, 2, 1.0),
            link(3, 4, 2.0),
        ];
        let constraints = Constraints {
            must_link: vec![],
            cannot_link: vec![(0, 2)],
        };
        let forward = cluster(5, &links, &constraints, 10);
        let mut reversed = links.clone();
        reversed.reverse();
        assert_eq!(cluster(5, &reversed, &constraints, 10), forward);
        // Equal weights: (0,1) comes before (1,2) by ids, so 2 stays apart.
        assert_eq!(forward.labels, vec![0, 0, 2, 3, 3]);
    }

    proptest! {
        #[test]
        fn cannot_links_are_never_violated_and_must_links_always_hold(
            links in prop::collection::vec((0u32..30, 0u32..30, -5.0f64..20.0), 0..120),
            cannot in prop::collection::vec((0u32..30, 0u32..30), 0..25),
            groups in prop::collection::vec(0u32..10, 30),
            max_size in 2usize..40,
        ) {
            // Consistent steward input: must-links inside a group, and no
            // cannot-link inside a group.
            let must_link: Vec<(u32, u32)> = (0..30u32)
                .flat_map(|a| (a + 1..30).map(move |b| (a, b)))
                .filter(|&(a, b)| groups[a as usize] == groups[b as usize] && (a * 7 + b) % 3 == 0)
                .collect();
            let cannot_link: Vec<(u32, u32)> = cannot
                .into_iter()
                .filter(|&(a, b)| groups[a as usize] != groups[b as usize])
                .collect();
            let links: Vec<Link> = links.into_iter().map(|(a, b, weight)| link(a, b, weight)).collect();
            let constraints = Constraints { must_link: must_link.clone(), cannot_link: cannot_link.clone() };
            let clustering = cluster(30, &links, &constraints, max_size);
            for (a, b) in cannot_link {
                prop_assert_ne!(clustering.labels[a as usize], clustering.labels[b as usize]);
            }
            for (a, b) in must_link {
                prop_assert_eq!(clustering.labels[a as usize], clustering.labels[b as usize]);
            }
            prop_assert!(clustering.conflicts.is_empty());
            // Every label is the smallest member of its cluster.
            for members in clustering.members() {
                prop_assert!(members.iter().all(|&m| clustering.labels[m as usize] == members[0]));
            }
            let mut shuffled = links.clone();
            shuffled.reverse();
            prop_assert_eq!(cluster(30, &shuffled, &constraints, max_size).labels, clustering.labels);
        }
    }
}
