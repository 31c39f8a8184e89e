//! Picking: which node lies under the cursor.

use bevy::math::{Ray3d, Vec3};

/// The item whose sphere of `radius` the ray hits first, with the distance
/// along the ray. Hits behind the ray's origin do not count.
pub fn nearest_hit<T>(
    ray: Ray3d,
    radius: f32,
    candidates: impl IntoIterator<Item = (T, Vec3)>,
) -> Option<(T, f32)> {
    let direction = *ray.direction;
    let mut best: Option<(T, f32)> = None;
    for (item, centre) in candidates {
        let to_centre = centre - ray.origin;
        let along = to_centre.dot(direction);
        let off_axis_squared = to_centre.length_squared() - along * along;
        let radius_squared = radius * radius;
        if off_axis_squared > radius_squared {
            continue;
        }
        let half_chord = (radius_squared - off_axis_squared).sqrt();
        let distance = if along - half_chord >= 0.0 {
            along - half_chord
        } else if along + half_chord >= 0.0 {
            0.0
        } else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, nearest)| distance < *nearest) {
            best = Some((item, distance));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::math::Dir3;

    fn ray_from(origin: Vec3, towards: Vec3) -> Ray3d {
        Ray3d::new(origin, Dir3::new(towards - origin).unwrap())
    }

    #[test]
    fn nearest_of_overlapping_spheres_wins() {
        let ray = ray_from(Vec3::new(0.0, 0.0, 10.0), Vec3::ZERO);
        let candidates = [
            ("far", Vec3::new(0.0, 0.0, -2.0)),
            ("near", Vec3::new(0.2, 0.0, 3.0)),
            ("off to the side", Vec3::new(5.0, 0.0, 5.0)),
        ];
        let (hit, distance) = nearest_hit(ray, 0.5, candidates).unwrap();
        assert_eq!(hit, "near");
        assert!((distance - (7.0 - (0.25_f32 - 0.04).sqrt())).abs() < 1e-4);
    }

    #[test]
    fn misses_and_spheres_behind_are_ignored() {
        let ray = ray_from(Vec3::ZERO, Vec3::X);
        assert!(nearest_hit(ray, 0.5, [((), Vec3::new(-3.0, 0.0, 0.0))]).is_none());
        assert!(nearest_hit(ray, 0.5, [((), Vec3::new(3.0, 0.6, 0.0))]).is_none());
        let (_, inside) = nearest_hit(ray, 0.5, [((), Vec3::new(0.1, 0.0, 0.0))]).unwrap();
        assert_eq!(inside, 0.0);
    }
}
