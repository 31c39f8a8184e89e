//! Where the canvas window sits and how big it is, kept across restarts: the
//! host hands the last placement in ([`crate::CanvasOptions::placement`]),
//! the window opens there when it still lies on a monitor, and every move or
//! resize is reported once the window has been still for a moment
//! ([`crate::CanvasEvent::WindowPlaced`]) for the host to save.

use std::time::Duration;

use bevy::prelude::*;
use bevy::window::{Monitor, PrimaryWindow, WindowMoved, WindowResized};
use serde::{Deserialize, Serialize};

use crate::CanvasEvent;
use crate::bridge::CanvasBridge;

/// How long the window must stay still before its placement is reported
/// (a drag sends a move every frame).
const SETTLE: Duration = Duration::from_millis(400);

/// The smallest part of the window that must lie on a monitor for a saved
/// placement to be used (a monitor unplugged since leaves it elsewhere).
const VISIBLE_MARGIN: i32 = 48;

/// The window's place (physical pixels, top-left corner) and size (logical pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPlacement {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl WindowPlacement {
    /// Whether enough of the window lies on one of the monitors
    /// (`(position, size)` in physical pixels) to be grabbed there.
    pub fn lies_on(&self, monitors: &[(IVec2, UVec2)]) -> bool {
        monitors.iter().any(|(position, size)| {
            let right = position.x + size.x as i32;
            let bottom = position.y + size.y as i32;
            self.x + self.width as i32 - VISIBLE_MARGIN > position.x
                && self.x + VISIBLE_MARGIN < right
                && self.y >= position.y - VISIBLE_MARGIN
                && self.y + VISIBLE_MARGIN < bottom
        })
    }
}

/// The placement the host saved, applied once the monitors are known.
#[derive(Resource)]
struct SavedPlacement(Option<WindowPlacement>);

/// A move or resize not yet reported, and when the window last changed.
#[derive(Resource, Default)]
struct Unsettled(Option<Duration>);

/// Restores and reports the canvas window's placement.
pub struct WindowPlacementPlugin {
    /// The placement to restore.
    pub saved: Option<WindowPlacement>,
}

impl Plugin for WindowPlacementPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(SavedPlacement(self.saved))
            .init_resource::<Unsettled>()
            .add_systems(Update, (restore_placement, report_placement).chain());
    }
}

/// Moves the window back where it was, once winit has listed the monitors;
/// a placement no monitor shows is dropped and the window keeps its default.
fn restore_placement(
    mut saved: ResMut<SavedPlacement>,
    monitors: Query<&Monitor>,
    mut windows: Query<&mut Window, With<PrimaryWindow>>,
) {
    let Some(placement) = saved.0 else {
        return;
    };
    if monitors.is_empty() {
        return;
    }
    saved.0 = None;
    let screens: Vec<(IVec2, UVec2)> = monitors
        .iter()
        .map(|monitor| {
            (
                monitor.physical_position,
                UVec2::new(monitor.physical_width, monitor.physical_height),
            )
        })
        .collect();
    if !placement.lies_on(&screens) {
        info!(
            ?placement,
            "the canvas window's saved place is on no monitor; left where it opened"
        );
        return;
    }
    let Ok(mut window) = windows.single_mut() else {
        return;
    };
    window
        .resolution
        .set(placement.width as f32, placement.height as f32);
    window.position = WindowPosition::At(IVec2::new(placement.x, placement.y));
}

/// Reports the window's placement once it has settled after a change.
fn report_placement(
    time: Res<Time<Real>>,
    mut unsettled: ResMut<Unsettled>,
    mut moved: MessageReader<WindowMoved>,
    mut resized: MessageReader<WindowResized>,
    saved: Res<SavedPlacement>,
    windows: Query<(Entity, &Window), With<PrimaryWindow>>,
    bridge: Res<CanvasBridge>,
    // winit's windows live on the event loop's thread.
    _winit_thread: bevy::ecs::system::NonSendMarker,
) {
    let changed = moved.read().count() + resized.read().count() > 0;
    // Changes before the saved placement is applied are the window opening.
    if saved.0.is_some() {
        return;
    }
    let now = time.elapsed();
    if changed {
        unsettled.0 = Some(now);
        return;
    }
    let Some(since) = unsettled.0 else {
        return;
    };
    if now.saturating_sub(since) < SETTLE {
        return;
    }
    unsettled.0 = None;
    let Ok((entity, window)) = windows.single() else {
        return;
    };
    // Where the window really is: winit reports a move only when a window
    // manager sends one, so without one (or before the first) it is asked.
    let position = bevy::winit::WINIT_WINDOWS
        .with_borrow(|windows| {
            windows
                .get_window(entity)
                .and_then(|window| window.outer_position().ok())
                .map(|position| IVec2::new(position.x, position.y))
        })
        .or(match window.position {
            WindowPosition::At(position) => Some(position),
            _ => None,
        });
    let Some(position) = position else {
        return;
    };
    let placement = WindowPlacement {
        x: position.x,
        y: position.y,
        width: window.resolution.width().round() as u32,
        height: window.resolution.height().round() as u32,
    };
    bridge.send(CanvasEvent::WindowPlaced(placement));
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: [(IVec2, UVec2); 1] = [(IVec2::ZERO, UVec2::new(1920, 1080))];

    fn at(x: i32, y: i32) -> WindowPlacement {
        WindowPlacement {
            x,
            y,
            width: 800,
            height: 600,
        }
    }

    #[test]
    fn a_window_on_the_screen_is_restored() {
        assert!(at(100, 80).lies_on(&SCREEN));
        assert!(
            at(1920 - 60, 0).lies_on(&SCREEN),
            "a sliver to grab is enough"
        );
    }

    #[test]
    fn a_window_off_every_screen_is_not() {
        assert!(!at(2500, 100).lies_on(&SCREEN), "right of the only monitor");
        assert!(!at(-790, 100).lies_on(&SCREEN), "left of it");
        assert!(!at(100, 1070).lies_on(&SCREEN), "below it");
        assert!(
            !at(100, -300).lies_on(&SCREEN),
            "its title bar above the top"
        );
        assert!(!at(100, 100).lies_on(&[]), "no monitor at all");
        let second = [SCREEN[0], (IVec2::new(1920, 0), UVec2::new(1280, 1024))];
        assert!(at(2500, 100).lies_on(&second), "on a second monitor");
    }
}
