//! orrery-layout: automatic layout of a graph — force-directed in 3D, or layered left to right.
//!
//! Nodes repel each other (Fruchterman–Reingold: k²/d), edges pull their ends
//! together (d²/k), and a weak pull towards the centre keeps parts from
//! drifting apart. Repulsion between all pairs is approximated with a
//! Barnes–Hut octree: a distant cell acts as one body at its centre of mass,
//! so a step costs O(n log n) instead of O(n²). Each step moves nodes by at
//! most the current temperature, which cools, so the layout settles.
//!
//! [`layered_layout`] is the other layout: columns left to right in
//! topological order (the canvas's flat view).
//!
//! Pure computation on plain positions and index pairs: it knows nothing of
//! the canvas, ids or storage, and runs on any thread.

mod layered;

pub use layered::{LayeredSettings, layered_layout};

use glam::Vec3;

/// How the forces are weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutSettings {
    /// The ideal distance between connected nodes (k).
    pub spring_length: f32,
    /// Barnes–Hut opening angle: cells with size / distance below it are
    /// approximated (0 computes every pair exactly).
    pub theta: f32,
    /// Pull towards the centroid, per unit distance.
    pub gravity: f32,
    /// Largest move in the first step; later steps move less.
    pub initial_temperature: f32,
    /// Each step multiplies the temperature by this.
    pub cooling: f32,
}

impl Default for LayoutSettings {
    fn default() -> Self {
        Self {
            spring_length: 3.0,
            theta: 0.8,
            gravity: 0.02,
            initial_temperature: 3.0,
            cooling: 0.97,
        }
    }
}

/// A layout in progress.
#[derive(Debug, Clone)]
pub struct ForceLayout {
    positions: Vec<Vec3>,
    edges: Vec<(u32, u32)>,
    settings: LayoutSettings,
    temperature: f32,
    forces: Vec<Vec3>,
    tree: Octree,
}

impl ForceLayout {
    /// A layout of nodes at `positions`, joined by `edges` (index pairs;
    /// pairs naming a missing node or the same node twice are ignored).
    pub fn new(positions: &[[f32; 3]], edges: &[(usize, usize)], settings: LayoutSettings) -> Self {
        let count = positions.len();
        let mut positions: Vec<Vec3> = positions.iter().map(|p| Vec3::from_array(*p)).collect();
        // Coincident nodes have no direction to repel along: spread them a little.
        for (index, position) in positions.iter_mut().enumerate() {
            if !position.is_finite() {
                *position = Vec3::ZERO;
            }
            *position += jitter(index) * 1e-3;
        }
        Self {
            edges: edges
                .iter()
                .filter(|(a, b)| a != b && *a < count && *b < count)
                .map(|&(a, b)| (a as u32, b as u32))
                .collect(),
            forces: vec![Vec3::ZERO; count],
            temperature: settings.initial_temperature,
            settings,
            positions,
            tree: Octree::default(),
        }
    }

    /// Where every node is now.
    pub fn positions(&self) -> impl ExactSizeIterator<Item = [f32; 3]> + '_ {
        self.positions.iter().map(|p| p.to_array())
    }

    /// The largest move the next step may make.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// One iteration; returns the largest distance any node moved.
    pub fn step(&mut self) -> f32 {
        if self.positions.is_empty() {
            return 0.0;
        }
        let k = self.settings.spring_length;
        self.tree.build(&self.positions);
        // Repulsion is the bulk of a step and each body's is independent:
        // split the bodies over the cores.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = self.positions.len().div_ceil(threads).max(256);
        let (tree, positions, theta) = (&self.tree, &self.positions, self.settings.theta);
        std::thread::scope(|scope| {
            for (part, forces) in self.forces.chunks_mut(chunk).enumerate() {
                scope.spawn(move || {
                    let mut stack = Vec::with_capacity(64);
                    for (offset, force) in forces.iter_mut().enumerate() {
                        let index = part * chunk + offset;
                        *force = tree.repulsion(index, positions[index], k * k, theta, &mut stack);
                    }
                });
            }
        });
        for &(a, b) in &self.edges {
            let (a, b) = (a as usize, b as usize);
            let delta = self.positions[b] - self.positions[a];
            let distance = delta.length().max(1e-4);
            let pull = delta / distance * (distance * distance / k);
            self.forces[a] += pull;
            self.forces[b] -= pull;
        }
        let centroid = self.positions.iter().copied().sum::<Vec3>() / self.positions.len() as f32;
        let mut largest: f32 = 0.0;
        for (position, force) in self.positions.iter_mut().zip(&self.forces) {
            let force = *force + (centroid - *position) * self.settings.gravity * k;
            let length = force.length();
            if length > 1e-9 && length.is_finite() {
                let moved = force / length * length.min(self.temperature);
                *position += moved;
                largest = largest.max(moved.length());
            }
        }
        self.temperature *= self.settings.cooling;
        largest
    }
}

/// A small, deterministic offset for the `index`-th node.
fn jitter(index: usize) -> Vec3 {
    let mut state = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = || {
        state ^= state >> 33;
        state = state.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        state ^= state >> 33;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    Vec3::new(next(), next(), next())
}

/// A cell of the octree: its bounds and mass, and either children or one body.
#[derive(Debug, Clone, Copy)]
struct Cell {
    centre: Vec3,
    half_size: f32,
    mass: f32,
    mass_centre: Vec3,
    /// Index of the first of 8 children, or 0 for a leaf.
    children: u32,
    /// The body in a leaf, or `u32::MAX` when empty (or inner).
    body: u32,
}

/// Cells deeper than this hold several coincident bodies as one.
const MAX_DEPTH: u32 = 32;

/// The Barnes–Hut octree, rebuilt every step (its storage is reused).
#[derive(Debug, Clone, Default)]
struct Octree {
    cells: Vec<Cell>,
}

impl Octree {
    fn build(&mut self, positions: &[Vec3]) {
        let (mut min, mut max) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for position in positions {
            min = min.min(*position);
            max = max.max(*position);
        }
        let half_size = ((max - min).max_element() * 0.5).max(1e-3) * 1.0001;
        self.cells.clear();
        self.cells.push(Cell::empty((min + max) * 0.5, half_size));
        for (index, position) in positions.iter().enumerate() {
            self.insert(0, index as u32, *position, positions, 0);
        }
        self.summarise(0, positions);
    }

    fn insert(&mut self, cell: usize, body: u32, position: Vec3, positions: &[Vec3], depth: u32) {
        let current = self.cells[cell];
        if current.children == 0 {
            if current.body == u32::MAX && current.mass == 0.0 {
                self.cells[cell].body = body;
                self.cells[cell].mass = 1.0;
                return;
            }
            if depth >= MAX_DEPTH {
                // Coincident bodies: count them here.
                self.cells[cell].mass += 1.0;
                return;
            }
            // Split: move the resident body down, then insert the new one.
            let first_child = self.cells.len() as u32;
            for octant in 0..8 {
                let offset = Vec3::new(
                    if octant & 1 == 0 { -0.5 } else { 0.5 },
                    if octant & 2 == 0 { -0.5 } else { 0.5 },
                    if octant & 4 == 0 { -0.5 } else { 0.5 },
                ) * current.half_size;
                self.cells.push(Cell::empty(
                    current.centre + offset,
                    current.half_size * 0.5,
                ));
            }
            self.cells[cell].children = first_child;
            self.cells[cell].body = u32::MAX;
            self.cells[cell].mass = 0.0;
            let resident = current.body;
            let child =
                first_child as usize + octant_of(current.centre, positions[resident as usize]);
            self.insert(
                child,
                resident,
                positions[resident as usize],
                positions,
                depth + 1,
            );
        }
        let first_child = self.cells[cell].children as usize;
        let child = first_child + octant_of(self.cells[cell].centre, position);
        self.insert(child, body, position, positions, depth + 1);
    }

    /// Fills in every cell's mass and centre of mass, bottom up.
    fn summarise(&mut self, cell: usize, positions: &[Vec3]) -> (f32, Vec3) {
        let current = self.cells[cell];
        let (mass, weighted) = if current.children == 0 {
            if current.body == u32::MAX {
                (0.0, Vec3::ZERO)
            } else {
                (
                    current.mass,
                    positions[current.body as usize] * current.mass,
                )
            }
        } else {
            let mut mass = 0.0;
            let mut weighted = Vec3::ZERO;
            for child in 0..8 {
                let (child_mass, child_centre) =
                    self.summarise(current.children as usize + child, positions);
                mass += child_mass;
                weighted += child_centre * child_mass;
            }
            (mass, weighted)
        };
        let mass_centre = if mass > 0.0 {
            weighted / mass
        } else {
            current.centre
        };
        self.cells[cell].mass = mass;
        self.cells[cell].mass_centre = mass_centre;
        (mass, mass_centre)
    }

    /// The repulsion on `body` at `position` from every other body.
    /// `stack` is scratch space, reused between calls.
    fn repulsion(
        &self,
        body: usize,
        position: Vec3,
        strength: f32,
        theta: f32,
        stack: &mut Vec<usize>,
    ) -> Vec3 {
        let mut force = Vec3::ZERO;
        // The opening criterion size / distance < theta, squared: no square
        // root per visited cell, and the offset it needs is the push's too.
        let theta_squared = theta * theta;
        stack.clear();
        if self.cells.first().is_some_and(|root| root.mass != 0.0) {
            stack.push(0);
        }
        while let Some(cell) = stack.pop() {
            let current = &self.cells[cell];
            let delta = position - current.mass_centre;
            let distance_squared = delta.length_squared();
            if current.children == 0 {
                if current.body as usize == body {
                    // Other bodies coincident with this one (a full-depth leaf).
                    continue;
                }
            } else {
                let size = current.half_size * 2.0;
                let far = distance_squared > 0.0 && size * size < theta_squared * distance_squared;
                if !far {
                    let first = current.children as usize;
                    // Empty children push nothing.
                    stack.extend((first..first + 8).filter(|&child| self.cells[child].mass != 0.0));
                    continue;
                }
            }
            // Fruchterman–Reingold repulsion k²/d from the cell's mass.
            force += delta * (strength * current.mass / distance_squared.max(1e-6));
        }
        force
    }
}

impl Cell {
    fn empty(centre: Vec3, half_size: f32) -> Self {
        Self {
            centre,
            half_size,
            mass: 0.0,
            mass_centre: centre,
            children: 0,
            body: u32::MAX,
        }
    }
}

fn octant_of(centre: Vec3, position: Vec3) -> usize {
    usize::from(position.x >= centre.x)
        | usize::from(position.y >= centre.y) << 1
        | usize::from(position.z >= centre.z) << 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fruchterman–Reingold repulsion k²/d from `mass` bodies at `from`.
    fn push(position: Vec3, from: Vec3, mass: f32, strength: f32) -> Vec3 {
        let delta = position - from;
        let distance_squared = delta.length_squared().max(1e-6);
        delta * (strength * mass / distance_squared)
    }

    fn exact_repulsion(positions: &[Vec3], body: usize, strength: f32) -> Vec3 {
        positions
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != body)
            .map(|(_, other)| push(positions[body], *other, 1.0, strength))
            .sum()
    }

    fn scattered(count: usize) -> Vec<[f32; 3]> {
        (0..count)
            .map(|index| (jitter(index) * 40.0).to_array())
            .collect()
    }

    #[test]
    fn octree_with_theta_zero_is_exact_and_small_theta_is_close() {
        let layout = ForceLayout::new(&scattered(400), &[], LayoutSettings::default());
        let mut tree = Octree::default();
        tree.build(&layout.positions);
        for body in [0, 17, 199, 399] {
            let exact = exact_repulsion(&layout.positions, body, 9.0);
            let computed = tree.repulsion(body, layout.positions[body], 9.0, 0.0, &mut Vec::new());
            assert!(
                (computed - exact).length() <= exact.length() * 1e-4,
                "{computed} vs {exact}"
            );
            let approximate =
                tree.repulsion(body, layout.positions[body], 9.0, 0.5, &mut Vec::new());
            assert!(
                (approximate - exact).length() <= exact.length() * 0.05,
                "{approximate} vs {exact}"
            );
        }
    }

    #[test]
    fn connected_pair_settles_near_spring_length() {
        let settings = LayoutSettings {
            gravity: 0.0,
            ..LayoutSettings::default()
        };
        let mut layout =
            ForceLayout::new(&[[0.0, 0.0, 0.0], [20.0, 0.0, 0.0]], &[(0, 1)], settings);
        for _ in 0..300 {
            layout.step();
        }
        let positions: Vec<[f32; 3]> = layout.positions().collect();
        let distance = Vec3::from_array(positions[0]).distance(Vec3::from_array(positions[1]));
        // Attraction d²/k equals repulsion k²/d at d = k.
        assert!(
            (distance - settings.spring_length).abs() < 0.05,
            "distance {distance}"
        );
    }

    #[test]
    fn steps_cool_down_and_coincident_nodes_separate() {
        let mut layout = ForceLayout::new(&[[1.0, 1.0, 1.0]; 50], &[], LayoutSettings::default());
        let first = layout.step();
        let mut last = first;
        for _ in 0..200 {
            last = layout.step();
        }
        assert!(first > 0.0 && last < first * 0.1, "{first} -> {last}");
        let positions: Vec<Vec3> = layout.positions().map(Vec3::from_array).collect();
        let closest = (0..positions.len())
            .flat_map(|a| (a + 1..positions.len()).map(move |b| (a, b)))
            .map(|(a, b)| positions[a].distance(positions[b]))
            .fold(f32::MAX, f32::min);
        assert!(
            closest > 0.5,
            "nodes that started in one spot spread out ({closest})"
        );
    }

    #[test]
    fn bad_edges_and_positions_are_ignored() {
        let mut layout = ForceLayout::new(
            &[[f32::NAN, 0.0, 0.0], [1.0, 0.0, 0.0]],
            &[(0, 0), (0, 7), (1, 0)],
            LayoutSettings::default(),
        );
        layout.step();
        assert!(layout.positions().all(|p| p.iter().all(|c| c.is_finite())));
        assert!(ForceLayout::new(&[], &[], LayoutSettings::default()).step() == 0.0);
    }
}
