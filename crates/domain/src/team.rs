//! Teams: workspaces several people share. A team is a tenant with members;
//! each member holds one [`TeamRole`]. What a role may do is the policy
//! engine's to say (`policy::decide_in_team`); this module says what roles
//! and team actions are, and what an invitation and a presence message may
//! hold.

use serde::{Deserialize, Serialize};

/// A member's role in a team, from most to least trusted.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    /// Runs the team: everything an admin may, plus billing, other owners
    /// and deleting the team.
    Owner,
    /// Invites and removes editors and viewers, changes their roles.
    Admin,
    /// Edits the team's graphs and library, starts runs.
    Editor,
    /// Opens and follows everything, changes nothing.
    Viewer,
}

impl TeamRole {
    /// Every role, most trusted first.
    pub const ALL: [TeamRole; 4] = [
        TeamRole::Owner,
        TeamRole::Admin,
        TeamRole::Editor,
        TeamRole::Viewer,
    ];

    /// Its written name.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Owner => "owner",
            TeamRole::Admin => "admin",
            TeamRole::Editor => "editor",
            TeamRole::Viewer => "viewer",
        }
    }

    /// The role with this written name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Whether this role may change what the team holds.
    pub fn edits(self) -> bool {
        self <= TeamRole::Editor
    }
}

impl std::fmt::Display for TeamRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a member wants to do in a team, as the policy engine is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamAction {
    /// Open the team's graphs, library and sessions; follow its live feed.
    Read,
    /// Change the team's graphs or library (a sync that sends changes,
    /// creating or deleting a graph).
    Edit,
    /// Start or cancel runs of the team's agents and graphs.
    Run,
    /// Say where one is looking on a graph (presence).
    ShowPresence,
    /// Invite someone as `role`.
    Invite(TeamRole),
    /// Take back an invitation not yet accepted.
    RevokeInvitation,
    /// Change a member holding `from` to `to`.
    ChangeRole {
        /// Their role now.
        from: TeamRole,
        /// The role asked for.
        to: TeamRole,
    },
    /// Remove another member holding this role.
    Remove(TeamRole),
    /// Leave the team oneself.
    Leave,
    /// Rename the team.
    Rename,
    /// A route outside the team's data (API keys, billing, the profile):
    /// these act on one's own account, in one's personal workspace.
    PersonalOnly,
}

/// The HTTP header naming the workspace a request works in: a team's id.
/// Without it (or with the user's own tenant) a request works in their
/// personal workspace.
pub const WORKSPACE_HEADER: &str = "orrery-workspace";

/// Teams one person may create.
pub const MAX_TEAMS_CREATED_PER_USER: u64 = 20;

/// Members a team may have, pending invitations included.
pub const MAX_TEAM_MEMBERS: u64 = 200;

/// Invitations one team may send in an hour.
pub const INVITATIONS_PER_TEAM_PER_HOUR: u64 = 50;

/// How long an invitation link works.
pub const INVITATION_LIFETIME_DAYS: i64 = 7;

/// Presence messages a person may send per second; more are dropped.
pub const PRESENCE_PER_SECOND: u32 = 20;

/// The largest presence message a device may send, in bytes.
pub const MAX_PRESENCE_BYTES: usize = 2048;

/// Node ids one presence message may name as selected (a larger selection
/// is shown by its first ones).
pub const MAX_PRESENCE_SELECTION: usize = 32;

/// The colours people are shown in on the canvas, picked by a stable hash
/// of who they are: distinct on both themes.
pub const PRESENCE_COLOURS: [&str; 8] = [
    "#e5484d", "#3e63dd", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff", "#d6409f", "#ad7f58",
];

/// The colour a person is shown in: the same on every device, from their id.
pub fn presence_colour(user: &uuid::Uuid) -> &'static str {
    // FNV-1a over the id's bytes: stable across builds and platforms.
    let hash = user
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    // FNV alone barely mixes the last bytes into the high bits: finish
    // with MurmurHash3's 64-bit finaliser so every byte moves the colour.
    let mut mixed = hash;
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xff51_afd7_ed55_8ccd);
    mixed ^= mixed >> 33;
    mixed = mixed.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    mixed ^= mixed >> 33;
    PRESENCE_COLOURS[(mixed % PRESENCE_COLOURS.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order_by_trust() {
        for role in TeamRole::ALL {
            assert_eq!(TeamRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(TeamRole::parse("superuser"), None);
        assert!(TeamRole::Owner < TeamRole::Viewer);
        assert!(TeamRole::Editor.edits());
        assert!(!TeamRole::Viewer.edits());
    }

    #[test]
    fn colours_are_stable_and_spread() {
        let id = uuid::Uuid::from_u128(42);
        assert_eq!(presence_colour(&id), presence_colour(&id));
        // Ids that differ only in their last bytes still spread over the colours.
        let used: std::collections::BTreeSet<_> = (0..64u128)
            .map(|n| presence_colour(&uuid::Uuid::from_u128(n)))
            .collect();
        assert_eq!(used.len(), PRESENCE_COLOURS.len(), "{used:?}");
    }
}
